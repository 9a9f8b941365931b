/**
 * Where the recorder reached in a stream: the offset of the next event to read, stored in the same
 * transaction as the event before it.
 */
import type { SqlClient } from './sql.js';

export class StreamOffsets {
  constructor(private readonly database: SqlClient) {}

  /** The offset to read `stream` from, or undefined when none is stored. */
  async next(stream: string): Promise<number | undefined> {
    return (await this.database.get<{ next_offset: number }>('SELECT next_offset FROM stream_offsets WHERE stream = ?', [stream]))?.next_offset;
  }

  /**
   * Moves `stream`'s offset forward to `nextOffset`, never back: a recorder that lost its lock may
   * still finish one event after another recorder took over and read further.
   */
  async advance(stream: string, nextOffset: number): Promise<void> {
    await this.database.run(
      'INSERT INTO stream_offsets (stream, next_offset) VALUES (?, ?) ON CONFLICT (stream) DO UPDATE SET next_offset = excluded.next_offset WHERE stream_offsets.next_offset < excluded.next_offset',
      [stream, nextOffset],
    );
  }
}
