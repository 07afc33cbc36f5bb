// Package migrations holds the Postgres schema as goose SQL migrations, embedded so that every
// binary migrates the database it is pointed at without files on disk.
package migrations

import "embed"

// FS holds the migration files, named NNNNN_description.sql in the order goose applies them.
//
//go:embed *.sql
var FS embed.FS
