package directory

// SetRareMatches sets where s's name searches stop collecting their matches and walk the
// directory's order, for the names and for the other filters (both n): 0 always walks, a
// large number always collects.
func SetRareMatches(s *Store, n int) { s.rareMatches, s.narrowFilter = n, n }
