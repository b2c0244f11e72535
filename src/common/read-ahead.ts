// Many small reads (records, state files) in flight at once but not all at once: one after the
// other, thousands of them wait on the disk in turn; all at once, they take as many fds and
// buffers as there are items.

/** read(item) for every item, at most `limit` at once, started in the items' order; never rejects if read never does. */
export function readAhead<T>(items: readonly string[], limit: number, read: (item: string) => Promise<T>): [string, Promise<T>][] {
  let active = 0;
  const waiting: (() => void)[] = [];
  const acquire = (): Promise<void> => {
    if (active < limit) {
      active++;
      return Promise.resolve();
    }
    return new Promise((resolve) => waiting.push(resolve));
  };
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else active--;
  };
  return items.map((item) => [
    item,
    (async () => {
      await acquire();
      try {
        return await read(item);
      } finally {
        release();
      }
    })(),
  ]);
}
