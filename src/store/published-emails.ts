/**
 * The poller's record of the emails it has published, so an email whose "taken" mark was lost in a
 * crash is not published a second time.
 */
import type { Database } from 'better-sqlite3';

export class PublishedEmails {
  constructor(private readonly database: Database) {
    database.exec(`CREATE TABLE IF NOT EXISTS published_emails (
      email_id TEXT PRIMARY KEY,
      agent_email TEXT NOT NULL,
      published_at TEXT NOT NULL
    )`);
  }

  has(emailId: string): boolean {
    return this.database.prepare('SELECT 1 FROM published_emails WHERE email_id = ?').get(emailId) !== undefined;
  }

  add(emailId: string, agentEmail: string): void {
    this.database
      .prepare('INSERT OR IGNORE INTO published_emails (email_id, agent_email, published_at) VALUES (?, ?, ?)')
      .run(emailId, agentEmail, new Date().toISOString());
  }
}
