import type { ChannelModel } from 'amqplib';

interface MuxLike {
  _readIncoming: () => void;
  out: { cork(): void; uncork(): void };
}

/**
 * amqplib's muxer drains the channels' frame queues with one socket.write() per frame, so a
 * relay publishing a transaction's 80 events makes 80 send syscalls, each of which also wakes
 * the broker for one frame. Corking the socket for one muxer pass sends the pass as one writev.
 * Backpressure is untouched: write() still returns false past the socket's high-water mark,
 * the muxer stops and resumes on 'drain' as before.
 *
 * Reaches into amqplib internals (checked in amqplib 2.x); returns false, changing nothing,
 * when their shape is not the one expected.
 */
export function coalesceFrameWrites(conn: ChannelModel): boolean {
  const mux = (conn as unknown as { connection?: { muxer?: Partial<MuxLike> } }).connection?.muxer;
  if (!mux || typeof mux._readIncoming !== 'function' || typeof mux.out?.cork !== 'function' || typeof mux.out.uncork !== 'function') return false;
  const pass = mux._readIncoming.bind(mux);
  const out = mux.out;
  mux._readIncoming = () => {
    out.cork();
    try {
      pass();
    } finally {
      out.uncork();
    }
  };
  return true;
}
