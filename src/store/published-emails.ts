/**
 * The poller's record of the emails it has published, so an email whose "taken" mark was lost in a
 * crash is not published a second time.
 */
import type { SqlClient } from './sql.js';

export class PublishedEmails {
  constructor(private readonly database: SqlClient) {}

  async has(emailId: string): Promise<boolean> {
    return (await this.database.get('SELECT 1 FROM published_emails WHERE email_id = ?', [emailId])) !== undefined;
  }

  async add(emailId: string, agentEmail: string): Promise<void> {
    await this.database.run('INSERT INTO published_emails (email_id, agent_email, published_at) VALUES (?, ?, ?) ON CONFLICT (email_id) DO NOTHING', [
      emailId,
      agentEmail,
      new Date().toISOString(),
    ]);
  }
}
