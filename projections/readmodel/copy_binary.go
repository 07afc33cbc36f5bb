package readmodel

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// copyRows writes rows in Postgres's binary COPY format for the rebuild's COPY of messages and
// their change log (messageRun.copy). pgx's CopyFrom takes each row as a []any and finds an
// encoder per value, boxing every uuid and time: for a rebuild's ~180,000 rows of each table that
// was most of the Go side's cost of the COPY (docs/benchmarks.md). The values are encoded as pgx
// encodes them in binary (the live projector's statements), so the rows are the same.
type copyRows struct {
	buf    bytes.Buffer
	fields int
}

// copyHeader is the binary COPY signature, flags and header extension length.
var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// microsecFromUnixEpochToY2K is what Postgres's timestamps count from.
const microsecFromUnixEpochToY2K = 946_684_800 * 1_000_000

func newCopyRows(fields, rows, rowBytes int) *copyRows {
	c := &copyRows{fields: fields}
	c.buf.Grow(len(copyHeader) + rows*rowBytes + 2)
	c.buf.Write(copyHeader)
	return c
}

func (c *copyRows) row() { c.int16(int16(c.fields)) }

func (c *copyRows) int16(v int16) {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], uint16(v))
	c.buf.Write(b[:])
}

func (c *copyRows) length(n int) {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(int32(n)))
	c.buf.Write(b[:])
}

func (c *copyRows) null() { c.length(-1) }

func (c *copyRows) uuid(v [16]byte) {
	c.length(16)
	c.buf.Write(v[:])
}

func (c *copyRows) int8(v int64) {
	var b [12]byte
	binary.BigEndian.PutUint32(b[:4], 8)
	binary.BigEndian.PutUint64(b[4:], uint64(v))
	c.buf.Write(b[:])
}

func (c *copyRows) text(s string) {
	c.length(len(s))
	c.buf.WriteString(s)
}

func (c *copyRows) bool(v bool) {
	c.length(1)
	if v {
		c.buf.WriteByte(1)
	} else {
		c.buf.WriteByte(0)
	}
}

// timestamptz is a time as pgx's binary timestamptz encoder writes it (microseconds since
// 2000-01-01 UTC, the nanoseconds below a microsecond dropped).
func (c *copyRows) timestamptz(t time.Time) {
	c.int8(t.Unix()*1_000_000 + int64(t.Nanosecond())/1000 - microsecFromUnixEpochToY2K)
}

// send ends the data and copies it into table's columns on tx.
func (c *copyRows) send(ctx context.Context, tx pgx.Tx, table string, columns []string) error {
	c.int16(-1)
	cols := make([]string, len(columns))
	for i, col := range columns {
		cols[i] = pgx.Identifier{col}.Sanitize()
	}
	sql := fmt.Sprintf("COPY %s (%s) FROM STDIN (FORMAT binary)", pgx.Identifier{table}.Sanitize(), strings.Join(cols, ", "))
	_, err := tx.Conn().PgConn().CopyFrom(ctx, &c.buf, sql)
	return err
}
