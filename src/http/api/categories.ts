/**
 * `GET /api/categories`: the values the Category filter offers — the classifier's categories
 * (src/rag/prompt.ts), then any other value recorded in the activity log (an older classifier's).
 */
import type { FastifyInstance } from 'fastify';
import { nonSupportCategories, supportCategories } from '../../providers/llm/prompt.js';
import type { ActivityLog } from '../../store/activity-log.js';

export function categoryRoutes({ activity }: { activity: Pick<ActivityLog, 'categories'> }) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get('/categories', async () => ({ categories: [...new Set([...supportCategories, ...nonSupportCategories, ...(await activity.categories())])] }));
  };
}
