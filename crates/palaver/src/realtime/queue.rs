//! The outbox's queue: bounded, any number of producers, one consumer (the session's
//! writer). A tokio `mpsc` channel allocates about a kilobyte per channel up front (its
//! first block of slots and its cache-padded counters), and most sockets are idle: this
//! queue allocates nothing until something is queued, grows as it fills, and gives the
//! room back once drained.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;

/// A drained queue that grew past this many items lets its buffer go.
const KEEP: usize = 64;

struct Shared<T> {
    state: Mutex<State<T>>,
    capacity: usize,
    /// The consumer, waiting for an item.
    waker: AtomicWaker,
}

struct State<T> {
    items: VecDeque<T>,
    /// The consumer is gone: nothing more is queued.
    closed: bool,
}

impl<T> Shared<T> {
    fn state(&self) -> MutexGuard<'_, State<T>> {
        // Nothing panics while holding the lock; a poisoned queue is still a valid queue.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Why an item was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The queue holds `capacity` items.
    Full,
    /// The consumer is gone.
    Closed,
}

pub struct Producer<T>(Arc<Shared<T>>);

impl<T> Clone for Producer<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> std::fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").field("capacity", &self.0.capacity).finish_non_exhaustive()
    }
}

pub struct Consumer<T>(Arc<Shared<T>>);

/// A queue of at most `capacity` items (at least one).
pub fn bounded<T>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State { items: VecDeque::new(), closed: false }),
        capacity: capacity.max(1),
        waker: AtomicWaker::new(),
    });
    (Producer(shared.clone()), Consumer(shared))
}

impl<T> Producer<T> {
    /// Queues without waiting.
    pub fn push(&self, item: T) -> Result<(), Refused> {
        let mut state = self.0.state();
        if state.closed {
            return Err(Refused::Closed);
        }
        if state.items.len() >= self.0.capacity {
            return Err(Refused::Full);
        }
        state.items.push_back(item);
        drop(state);
        self.0.waker.wake();
        Ok(())
    }
}

impl<T> Consumer<T> {
    pub fn try_recv(&mut self) -> Option<T> {
        let items = &mut self.0.state().items;
        let item = items.pop_front();
        if items.is_empty() && items.capacity() > KEEP {
            *items = VecDeque::new();
        }
        item
    }

    /// The next item, once there is one. (Its owner holds a producer too, so the queue
    /// never ends under it.)
    pub async fn recv(&mut self) -> T {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<T> {
        if let Some(item) = self.try_recv() {
            return Poll::Ready(item);
        }
        self.0.waker.register(cx.waker());
        // An item queued between the first look and the registration woke nobody.
        match self.try_recv() {
            Some(item) => Poll::Ready(item),
            None => Poll::Pending,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.state().items.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.0.capacity
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        let mut state = self.0.state();
        state.closed = true;
        // What was queued goes now, not when the last producer does (and outside the lock).
        let queued = std::mem::take(&mut state.items);
        drop(state);
        drop(queued);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn it_holds_capacity_items_in_order_and_refuses_more() {
        let (producer, mut consumer) = bounded(3);
        for i in 0..3 {
            assert_eq!(producer.push(i), Ok(()));
        }
        assert_eq!(producer.push(3), Err(Refused::Full));
        assert_eq!(consumer.try_recv(), Some(0));
        assert_eq!(producer.clone().push(3), Ok(()), "a taken item makes room");
        assert_eq!((consumer.try_recv(), consumer.try_recv(), consumer.try_recv()), (Some(1), Some(2), Some(3)));
        assert_eq!(consumer.try_recv(), None);
        assert!(consumer.is_empty());
    }

    #[test]
    fn it_allocates_only_while_it_holds_items() {
        let (producer, mut consumer) = bounded(1024);
        assert_eq!(consumer.0.state().items.capacity(), 0, "an unused queue holds no buffer");
        for i in 0..1000 {
            producer.push(i).unwrap();
        }
        while consumer.try_recv().is_some() {}
        assert_eq!(consumer.0.state().items.capacity(), 0, "a drained queue gives its buffer back");
    }

    #[test]
    fn nothing_is_queued_for_a_consumer_that_is_gone() {
        let (producer, consumer) = bounded(4);
        let item = Arc::new(());
        producer.push(item.clone()).unwrap();
        drop(consumer);
        assert_eq!(Arc::strong_count(&item), 1, "what was queued is dropped with the consumer");
        assert_eq!(producer.push(item), Err(Refused::Closed));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiting_consumer_is_woken_by_a_push_from_another_thread() {
        let (producer, mut consumer) = bounded(2);
        let received = tokio::spawn(async move {
            let mut got = vec![];
            for _ in 0..1000 {
                got.push(consumer.recv().await);
            }
            got
        });
        let pushing = std::thread::spawn(move || {
            let mut i = 0;
            while i < 1000 {
                match producer.push(i) {
                    Ok(()) => i += 1,
                    Err(Refused::Full) => std::thread::yield_now(),
                    Err(Refused::Closed) => panic!("the consumer is running"),
                }
            }
        });
        let got = tokio::time::timeout(Duration::from_secs(30), received).await.expect("every item arrives").unwrap();
        pushing.join().unwrap();
        assert_eq!(got, (0..1000).collect::<Vec<_>>());
    }
}
