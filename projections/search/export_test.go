package search

// ForceRecency makes every search of s find its candidates newest first (true) or through the
// GIN index (false), whatever the statistics say, so that tests can hold both ways to the same
// results.
func ForceRecency(s *Store, recency bool) {
	st := byIndex
	if recency {
		st = byRecency
	}
	s.plan.force = &st
}
