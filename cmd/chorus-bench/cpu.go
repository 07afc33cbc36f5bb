package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// processCPU reads utime + stime of a process (every thread of it) from /proc/<pid>/stat.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// the command name (field 2) is in parentheses and may hold spaces: fields are counted
	// after its closing one, where field 3 (state) is index 0, utime (14) index 11, stime index 12
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return time.Duration(ut+st) * clockTick, nil
}

func processMeter(name string, pid int) cpuMeter {
	return cpuMeter{name: name, read: func() (time.Duration, error) { return processCPU(pid) }}
}

// postgresBackendsMeter sums the CPU of the Postgres backends connected to database db (their
// process title names it). A backend that exits during a phase takes its CPU with it, and
// Postgres's shared background processes (WAL writer, checkpointer) are not counted: a floor.
func postgresBackendsMeter(db string) cpuMeter {
	return cpuMeter{name: "Postgres backends of its database", read: func() (time.Duration, error) {
		dirs, err := filepath.Glob("/proc/[0-9]*/cmdline")
		if err != nil {
			return 0, err
		}
		var t time.Duration
		for _, p := range dirs {
			b, err := os.ReadFile(p)
			if err != nil || !bytes.HasPrefix(b, []byte("postgres: ")) || !bytes.Contains(b, []byte(" "+db+" ")) {
				continue
			}
			pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			if err != nil {
				continue
			}
			if c, err := processCPU(pid); err == nil {
				t += c
			}
		}
		return t, nil
	}}
}

// redisMeter reads redis-server's own CPU (INFO cpu: used_cpu_user + used_cpu_sys). The server
// is shared: whatever else uses it during a phase is counted too.
func redisMeter(rdb *redis.Client) cpuMeter {
	return cpuMeter{name: "redis-server (INFO cpu)", read: func() (time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		info, err := rdb.Info(ctx, "cpu").Result()
		if err != nil {
			return 0, err
		}
		var secs float64
		for _, line := range strings.Split(info, "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
			if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
				x, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return 0, fmt.Errorf("INFO cpu %s: %w", k, err)
				}
				secs += x
			}
		}
		return time.Duration(secs * float64(time.Second)), nil
	}}
}
