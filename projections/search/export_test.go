package search

// ForceRecency makes every search of s find its candidates newest first (true) or through the
// GIN index (false), whatever the statistics say, so that tests can hold every way to the same
// results.
func ForceRecency(s *Store, recency bool) {
	st := byIndex
	if recency {
		st = byRecency
	}
	s.plan.force = &st
}

// ForceSlice makes every search of s look in the slice of the newest share of its messages
// first (by the statistics' histogram of creation times), then through the GIN index when the
// slice holds too few matches.
func ForceSlice(s *Store, share float64) {
	st := bySlice
	s.plan.force, s.plan.forceSlice = &st, share
}
