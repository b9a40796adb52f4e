// Splitting a kernel's work among threads (see src/runtime/threads.ts): thread t of T takes the items
// [shareStart(count, t, T), shareStart(count, t + 1, T)), near-equal runs that cover every item once.

/** The first item of thread `thread`'s share when `count` items are split into `threads` near-equal runs. */
// @ts-ignore: decorator
@inline export function shareStart(count: i32, thread: i32, threads: i32): i32 {
  return <i32>(<i64>count * thread / threads);
}
