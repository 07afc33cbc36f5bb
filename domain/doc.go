// Package domain holds Chorus's aggregates, the events they emit and the rules that decide
// commands. It is pure Go: no I/O, no clocks, no randomness (ids and time come in with the call).
package domain
