package redis

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// The forms of CHORUS_REDIS_URL. A cluster and a Sentinel deployment get schemes of their own,
// rather than go-redis' own URL forms (plain redis:// with ?addr= for more seeds): those cannot
// be told from a single server's URL, and a cluster reached through one seed address is still a
// cluster (its client must follow MOVED redirections), so the kind of deployment has to be said,
// not guessed from the number of addresses.
//
//	redis://[user:password@]host:port[/db][?options]            one server (rediss:// for TLS)
//	redis+cluster://[user:password@]h1:p1,h2:p2,...[?options]     a cluster, by its seed nodes
//	redis+sentinel://[user:password@]s1:p1,s2:p2,.../master[/db][?options]
//	                                                              the master Sentinel names so
//
// The user and password are the data nodes' (the master's, with Sentinel); the sentinels' own,
// if they ask for one, go in the sentinel_username and sentinel_password options. The options are
// go-redis' URL options (dial_timeout, pool_size, ...); rediss+cluster and rediss+sentinel use TLS.
const wantSchemes = "want redis://, rediss://, redis+cluster:// or redis+sentinel://"

// newClient opens a go-redis client of the URL's kind: a Client, a ClusterClient or a
// FailoverClient, all UniversalClients.
type newClient func() goredis.UniversalClient

// opener opens clients with a copy of o each: go-redis fills in an options struct's defaults
// when it makes a client, and clients are made from several goroutines.
func opener[O any, C goredis.UniversalClient](o *O, newFn func(*O) C) newClient {
	return func() goredis.UniversalClient {
		cp := *o
		return newFn(&cp)
	}
}

// parseURL reads a CHORUS_REDIS_URL: how to open its clients, and where it points for error
// messages (never with the password).
func parseURL(raw string) (newClient, string, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, "", fmt.Errorf("redis url: no scheme (%s)", wantSchemes)
	}
	base, kind, _ := strings.Cut(scheme, "+")
	if base != "redis" && base != "rediss" {
		return nil, "", fmt.Errorf("redis url: scheme %q (%s)", scheme, wantSchemes)
	}
	switch kind {
	case "":
		hosts, _, _ := strings.Cut(strings.SplitN(rest, "/", 2)[0], "?")
		if at := strings.LastIndex(hosts, "@"); at >= 0 {
			hosts = hosts[at+1:]
		}
		if strings.Contains(hosts, ",") {
			return nil, "", fmt.Errorf("redis url: several addresses in %s://: use redis+cluster:// for a cluster or redis+sentinel:// for Sentinel", scheme)
		}
		o, err := goredis.ParseURL(raw)
		if err != nil {
			return nil, "", fmt.Errorf("redis url: %w", err)
		}
		return opener(o, goredis.NewClient), o.Addr, nil
	case "cluster":
		return parseClusterURL(base, rest)
	case "sentinel":
		return parseSentinelURL(base, rest)
	}
	return nil, "", fmt.Errorf("redis url: scheme %q (%s)", scheme, wantSchemes)
}

// splitHosts reads "[userinfo@]h1:p1,h2:p2,...[/path][?query]": the addresses (each with a
// port), and the rest as it was.
func splitHosts(rest string) (userinfo string, addrs []string, path, query string, err error) {
	rest, query, _ = strings.Cut(rest, "?")
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		userinfo, rest = rest[:at], rest[at+1:]
	}
	hosts, path, _ := strings.Cut(rest, "/")
	for _, h := range strings.Split(hosts, ",") {
		host, port, err := net.SplitHostPort(h)
		if err != nil || host == "" {
			return "", nil, "", "", fmt.Errorf("address %q: want host:port", h)
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return "", nil, "", "", fmt.Errorf("address %q: bad port", h)
		}
		addrs = append(addrs, net.JoinHostPort(host, port))
	}
	return userinfo, addrs, path, query, nil
}

// goredisURL writes the URL go-redis' cluster and failover parsers read: the first address as
// host, the others as addr options, then the query.
func goredisURL(base, userinfo string, addrs []string, path string, q url.Values) string {
	for _, a := range addrs[1:] {
		q.Add("addr", a)
	}
	u := base + "://"
	if userinfo != "" {
		u += userinfo + "@"
	}
	u += addrs[0]
	if path != "" {
		u += "/" + path
	}
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

func parseClusterURL(base, rest string) (newClient, string, error) {
	userinfo, addrs, path, query, err := splitHosts(rest)
	if err != nil {
		return nil, "", fmt.Errorf("redis cluster url: %w", err)
	}
	if path != "" {
		return nil, "", fmt.Errorf("redis cluster url: path /%s: a cluster has no databases but 0", path)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, "", fmt.Errorf("redis cluster url: options: %w", err)
	}
	o, err := goredis.ParseClusterURL(goredisURL(base, userinfo, addrs, "", q))
	if err != nil {
		return nil, "", fmt.Errorf("redis cluster url: %w", err)
	}
	return opener(o, goredis.NewClusterClient), "cluster " + strings.Join(addrs, ","), nil
}

func parseSentinelURL(base, rest string) (newClient, string, error) {
	o, where, err := parseSentinelOptions(base, rest)
	if err != nil {
		return nil, "", err
	}
	return opener(o, goredis.NewFailoverClient), where, nil
}

// sentinelOptions are the options of a redis+sentinel:// URL, nil for any other.
func sentinelOptions(raw string) *goredis.FailoverOptions {
	scheme, rest, _ := strings.Cut(raw, "://")
	base, kind, _ := strings.Cut(scheme, "+")
	if kind != "sentinel" {
		return nil
	}
	o, _, err := parseSentinelOptions(base, rest)
	if err != nil {
		return nil
	}
	return o
}

func parseSentinelOptions(base, rest string) (*goredis.FailoverOptions, string, error) {
	userinfo, addrs, path, query, err := splitHosts(rest)
	if err != nil {
		return nil, "", fmt.Errorf("redis sentinel url: %w", err)
	}
	master, db, _ := strings.Cut(path, "/")
	if master == "" {
		return nil, "", fmt.Errorf("redis sentinel url: no master name (want redis+sentinel://host:port,.../master)")
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, "", fmt.Errorf("redis sentinel url: options: %w", err)
	}
	for _, k := range []string{"master_name", "username", "password", "addr", "db"} {
		if q.Has(k) {
			return nil, "", fmt.Errorf("redis sentinel url: option %s: say it in the URL itself (user:password@, /master/db, host list)", k)
		}
	}
	q.Set("master_name", master)
	// go-redis' failover URL carries the sentinels' credentials as userinfo and the master's as
	// options; this form has them the other way round, like the other forms' userinfo.
	if userinfo != "" {
		user, pass, _ := strings.Cut(userinfo, ":")
		if user, err = url.PathUnescape(user); err == nil {
			pass, err = url.PathUnescape(pass)
		}
		if err != nil {
			return nil, "", fmt.Errorf("redis sentinel url: user info: %w", err)
		}
		q.Set("username", user)
		q.Set("password", pass)
	}
	sentinelInfo := ""
	if q.Has("sentinel_username") || q.Has("sentinel_password") {
		sentinelInfo = url.UserPassword(q.Get("sentinel_username"), q.Get("sentinel_password")).String()
		q.Del("sentinel_username")
		q.Del("sentinel_password")
	}
	o, err := goredis.ParseFailoverURL(goredisURL(base, sentinelInfo, addrs, db, q))
	if err != nil {
		return nil, "", fmt.Errorf("redis sentinel url: %w", err)
	}
	return o, "sentinel master " + master + " at " + strings.Join(addrs, ","), nil
}
