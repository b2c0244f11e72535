// A concurrency limit: at most `n` tasks run at once, the rest wait in order (Docker downloads at
// most 3 layers of a pull at a time).

export type Limiter = <T>(task: () => Promise<T>) => Promise<T>;

export function limiter(n: number): Limiter {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`a concurrency limit must be a positive integer, got ${n}`);
  let running = 0;
  const queue: (() => void)[] = [];
  const next = () => {
    if (running >= n) return;
    const start = queue.shift();
    if (start) {
      running++;
      start();
    }
  };
  return <T>(task: () => Promise<T>) =>
    new Promise<T>((resolve, reject) => {
      queue.push(() => {
        task()
          .then(resolve, reject)
          .finally(() => {
            running--;
            next();
          });
      });
      next();
    });
}
