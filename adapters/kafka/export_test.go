package kafka

// FencePartition fences partition part's owner as a newer owner's takeover does (for tests that
// need an owner that can no longer commit).
func FencePartition(cfg Config, part int32) error {
	return (&CommandProcessor{cfg: cfg}).fence(part)
}
