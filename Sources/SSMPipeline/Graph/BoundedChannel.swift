// BoundedChannel.swift: the buffer between two pipeline nodes.

import Foundation

/// A first-in first-out buffer of at most `capacity` items between one producer and one consumer
/// running on different queues.
///
/// * `send` blocks while the buffer is full: a slow consumer holds its producer back (backpressure);
///   nothing is ever dropped or reordered.
/// * `close()` marks the end of the stream: the consumer drains what is left, then `receive` returns `nil`.
/// * `cancel()` aborts both sides at once: blocked `send` and `receive` calls return immediately
///   (`send` returns `false`, `receive` returns `nil`) and the items still buffered are discarded.
public final class BoundedChannel<Element>: @unchecked Sendable {
    public let capacity: Int
    private let condition = NSCondition()
    private var items: [Element?]
    private var head = 0, count = 0
    private var closed = false, cancelled = false
    /// Largest number of items buffered at once (for tests and diagnostics).
    public private(set) var highWater = 0

    public init(capacity: Int) {
        precondition(capacity >= 1, "a channel needs room for at least one item")
        self.capacity = capacity
        items = Array(repeating: nil, count: capacity)
    }

    /// Appends `item`, waiting while the buffer is full. Returns `false` (and drops `item`) if the
    /// channel was cancelled; sending after `close()` is a programming error.
    @discardableResult
    public func send(_ item: Element) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        precondition(!closed, "send after close")
        while count == capacity && !cancelled { condition.wait() }
        if cancelled { return false }
        items[(head + count) % capacity] = item
        count += 1
        highWater = max(highWater, count)
        condition.broadcast()
        return true
    }

    /// The next item, waiting while the buffer is empty; `nil` once the channel is closed and
    /// drained, or cancelled.
    public func receive() -> Element? {
        condition.lock()
        defer { condition.unlock() }
        while count == 0 && !closed && !cancelled { condition.wait() }
        if cancelled || count == 0 { return nil }
        let item = items[head]
        items[head] = nil
        head = (head + 1) % capacity
        count -= 1
        condition.broadcast()
        return item
    }

    /// No more items will be sent; the consumer sees `nil` after the buffered ones.
    public func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// Aborts the channel: wakes and releases both sides, discards what is buffered.
    public func cancel() {
        condition.lock()
        cancelled = true
        for i in items.indices { items[i] = nil }
        count = 0
        condition.broadcast()
        condition.unlock()
    }

    public var isCancelled: Bool {
        condition.lock()
        defer { condition.unlock() }
        return cancelled
    }
}
