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
 * Reaches into amqplib's private internals, checked against amqplib 2.3.1: ChannelModel
 * `connection` (typed as `{ serverProperties }` only), its `muxer`, and the muxer's
 * `_readIncoming()` (one pass over the channels' frame queues) and `out` (the socket).
 * test/src/client/coalesce-writes.int.ts fails when that shape changes. Returns false, changing
 * nothing, when the shape is not the one expected: the caller logs a warning and frames are
 * written one syscall each, which is correct, only costlier.
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
