package domain

import (
	"fmt"
	"strconv"
	"strings"
)

// Position is where an event sits in the log: topic, partition, offset. A query that is given
// the position of an accepted command answers from a view that includes that command.
type Position struct {
	Topic     string
	Partition int32
	Offset    int64
}

// String is the opaque form clients see: "topic:partition:offset".
func (p Position) String() string {
	return p.Topic + ":" + strconv.FormatInt(int64(p.Partition), 10) + ":" + strconv.FormatInt(p.Offset, 10)
}

// IsZero tells whether the position is unset.
func (p Position) IsZero() bool { return p.Topic == "" }

// ParsePosition reads the form String writes.
func ParsePosition(s string) (Position, error) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return Position{}, fmt.Errorf("position %q: want topic:partition:offset", s)
	}
	j := strings.LastIndexByte(s[:i], ':')
	if j <= 0 {
		return Position{}, fmt.Errorf("position %q: want topic:partition:offset", s)
	}
	if !canonicalDigits(s[j+1:i]) || !canonicalDigits(s[i+1:]) {
		return Position{}, fmt.Errorf("position %q: bad partition or offset", s)
	}
	part, err1 := strconv.ParseInt(s[j+1:i], 10, 32)
	off, err2 := strconv.ParseInt(s[i+1:], 10, 64)
	if err1 != nil || err2 != nil || part < 0 || off < 0 {
		return Position{}, fmt.Errorf("position %q: bad partition or offset", s)
	}
	return Position{Topic: s[:j], Partition: int32(part), Offset: off}, nil
}

// canonicalDigits accepts exactly the digits strconv.FormatInt writes for a non-negative number:
// no sign, no leading zero, so one position has one spelling.
func canonicalDigits(s string) bool {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
