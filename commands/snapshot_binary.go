package commands

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// The primitives of the binary partition snapshot (snapshot.go): integers as varints, strings
// and byte strings length-prefixed, uuids as 16 bytes, times in time.Time's binary form.

// encoder appends to b.
type encoder struct{ b []byte }

func (w *encoder) uvarint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *encoder) varint(v int64)   { w.b = binary.AppendVarint(w.b, v) }
func (w *encoder) id(v uuid.UUID)   { w.b = append(w.b, v[:]...) }
func (w *encoder) str(s string)     { w.uvarint(uint64(len(s))); w.b = append(w.b, s...) }
func (w *encoder) bytes(s []byte)   { w.uvarint(uint64(len(s))); w.b = append(w.b, s...) }
func (w *encoder) bool(v bool) {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}
func (w *encoder) optID(v *uuid.UUID) {
	w.bool(v != nil)
	if v != nil {
		w.id(*v)
	}
}
func (w *encoder) time(t time.Time) error {
	b, err := t.MarshalBinary()
	if err != nil {
		return fmt.Errorf("snapshot time: %w", err)
	}
	w.bytes(b)
	return nil
}

// decoder reads what encoder wrote; the first error sticks and every later read returns zero.
type decoder struct {
	b   []byte
	err error
}

var errTruncated = errors.New("snapshot truncated")

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errTruncated)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(errTruncated)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length and bounds it by what is left (every element takes at least a byte),
// so that a corrupt length cannot make us allocate without limit.
func (d *decoder) count() int {
	v := d.uvarint()
	if v > uint64(len(d.b)) || v > math.MaxInt32 {
		d.fail(errTruncated)
		return 0
	}
	return int(v)
}

func (d *decoder) raw(n int) []byte {
	if n > len(d.b) {
		d.fail(errTruncated)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte1() byte {
	if len(d.b) < 1 {
		d.fail(errTruncated)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) bool() bool { return d.byte1() != 0 }

func (d *decoder) id() uuid.UUID {
	var v uuid.UUID
	copy(v[:], d.raw(16))
	return v
}

func (d *decoder) optID() *uuid.UUID {
	if !d.bool() {
		return nil
	}
	v := d.id()
	return &v
}

func (d *decoder) str() string { return intern(d.raw(d.count())) }

func (d *decoder) time() time.Time {
	var t time.Time
	b := d.raw(d.count())
	if d.err == nil {
		if err := t.UnmarshalBinary(b); err != nil {
			d.fail(fmt.Errorf("snapshot time: %w", err))
		}
	}
	return t
}

// intern returns the constants that most strings of a snapshot are without allocating them.
func intern(b []byte) string {
	switch string(b) {
	case "":
		return ""
	case domain.TypeMessageSent:
		return domain.TypeMessageSent
	case domain.AggregateRoom:
		return domain.AggregateRoom
	case domain.MessageText:
		return domain.MessageText
	case domain.RoleMember:
		return domain.RoleMember
	}
	return string(b)
}
