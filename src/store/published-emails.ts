/**
 * The poller's record of the emails it has published, so an email whose "taken" mark was lost in a
 * crash is not published a second time.
 */
import { prepared, type Database } from './database.js';

export class PublishedEmails {
  constructor(private readonly database: Database) {}

  has(emailId: string): boolean {
    return prepared(this.database, 'SELECT 1 FROM published_emails WHERE email_id = ?').get(emailId) !== undefined;
  }

  add(emailId: string, agentEmail: string): void {
    prepared(this.database, 'INSERT OR IGNORE INTO published_emails (email_id, agent_email, published_at) VALUES (?, ?, ?)').run(
      emailId,
      agentEmail,
      new Date().toISOString(),
    );
  }
}
