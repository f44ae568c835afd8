package middleware

import "sync"

// workQueue runs jobs in the background on at most workers goroutines,
// started when jobs arrive and gone when the queue is empty, so an idle
// middleware holds none. At most capacity jobs wait; push refuses more
// rather than block the request that pushed.
type workQueue struct {
	workers, capacity int

	mu      sync.Mutex
	jobs    []func()
	running int
}

// push queues job; false if the queue is full.
func (q *workQueue) push(job func()) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.jobs) >= q.capacity {
		return false
	}
	q.jobs = append(q.jobs, job)
	if q.running < q.workers {
		q.running++
		go q.work()
	}
	return true
}

// work runs queued jobs until there are none.
func (q *workQueue) work() {
	for {
		q.mu.Lock()
		if len(q.jobs) == 0 {
			q.running--
			q.mu.Unlock()
			return
		}
		job := q.jobs[0]
		q.jobs[0] = nil
		q.jobs = q.jobs[1:]
		q.mu.Unlock()
		job()
	}
}
