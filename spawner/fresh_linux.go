package spawner

import "time"

// FreshAge is how long after its start a running handler counts as fresh
// (FreshAtLeast). Most of a short handler's work falls within it: the
// dynamic loader, the program's start-up and, for an inetd-style handler
// that answers one request, usually the answer.
const FreshAge = 20 * time.Millisecond

// FreshAtLeast reports whether at least n handlers started within the last
// FreshAge are still running, as a hint that the CPUs are busy with
// handlers superd has just started. A handler stops being fresh when it
// finishes or ages; one that is waiting for its client is only fresh for
// FreshAge. Below n fresh handlers it is one atomic load.
func (s *Spawner) FreshAtLeast(n int) bool {
	if s.freshN.Load() < int64(n) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ageFreshLocked(time.Now())
	return s.freshN.Load() >= int64(n)
}

// addFreshLocked counts h, just registered, as fresh. mu is held.
func (s *Spawner) addFreshLocked(h *Handler) {
	s.ageFreshLocked(h.start)
	h.fresh = true
	s.freshN.Add(1)
	s.freshQ = append(s.freshQ, h)
}

// dropFreshLocked stops counting h, which has finished, as fresh; it
// leaves freshQ when it reaches the front. mu is held.
func (s *Spawner) dropFreshLocked(h *Handler) {
	if h.fresh {
		h.fresh = false
		s.freshN.Add(-1)
	}
}

// ageFreshLocked takes the handlers started more than FreshAge before
// now, and the finished ones ahead of the first still fresh, off the
// front of freshQ, so that it holds at most the handlers started within
// FreshAge and never keeps a finished one longer. mu is held.
func (s *Spawner) ageFreshLocked(now time.Time) {
	q := s.freshQ
	i := 0
	for ; i < len(q); i++ {
		h := q[i]
		if h.fresh && now.Sub(h.start) < FreshAge {
			break
		}
		s.dropFreshLocked(h)
		q[i] = nil
	}
	if i == len(q) {
		s.freshQ = q[:0]
		return
	}
	s.freshQ = q[i:]
}
