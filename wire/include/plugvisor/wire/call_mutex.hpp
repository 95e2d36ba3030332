#pragma once

// CallMutex: the mutex of a critical section that every call passes, from
// caller threads on different CPUs (the manager's connection pool, the
// SDK's count of calls in flight). glibc's adaptive mutex: a thread that
// finds it held spins for a moment before it sleeps in the kernel, and the
// sections it guards last well under a moment. A std::mutex puts the
// waiter to sleep at once, and the wake-up that follows costs a system call
// on each side, and on a VM often a wake-up of the other CPU: with four
// caller threads on two CPUs, one call in 5 to 20 met one, and the
// threads no longer stayed beside the threads they call
// (docs/performance.md, "The call path's locks").

#include <pthread.h>

namespace plugvisor::wire {

class CallMutex {
 public:
  CallMutex() = default;
  ~CallMutex() { ::pthread_mutex_destroy(&mutex_); }
  CallMutex(const CallMutex&) = delete;
  CallMutex& operator=(const CallMutex&) = delete;

  void lock() noexcept { ::pthread_mutex_lock(&mutex_); }
  bool try_lock() noexcept { return ::pthread_mutex_trylock(&mutex_) == 0; }
  void unlock() noexcept { ::pthread_mutex_unlock(&mutex_); }

 private:
  pthread_mutex_t mutex_ = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;
};

}  // namespace plugvisor::wire
