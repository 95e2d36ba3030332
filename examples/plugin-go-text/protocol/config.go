package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// config is the launch configuration (docs/protocol.md section 5.2).
type config struct {
	ID           string
	Type         string // "unix" or "tcp"
	Address      string
	IdleTimeout  time.Duration // 0: never idle out
	Token        string
	MaxBodyBytes int64
}

const defaultMaxBody = 64 << 20

// parseConfig checks every member; any error means exit 2.
func parseConfig(text []byte) (config, error) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return config{}, fmt.Errorf("not a JSON object: %s", text)
	}
	cfg := config{MaxBodyBytes: defaultMaxBody}
	if v, err := integer(raw, "protocolVersion"); err != nil || v != 1 {
		return cfg, errors.New("protocolVersion must be the integer 1 (this plugin speaks protocol 1)")
	}
	var err error
	for _, m := range []struct {
		name string
		into *string
	}{{"id", &cfg.ID}, {"type", &cfg.Type}, {"address", &cfg.Address}, {"token", &cfg.Token}} {
		if *m.into, err = str(raw, m.name); err != nil {
			return cfg, err
		}
		if *m.into == "" {
			return cfg, fmt.Errorf("%s must not be empty", m.name)
		}
	}
	if cfg.Type != "unix" && cfg.Type != "tcp" {
		return cfg, fmt.Errorf("type must be \"unix\" or \"tcp\", not %q", cfg.Type)
	}
	if cfg.Type == "tcp" && !validTCPAddress(cfg.Address) {
		return cfg, fmt.Errorf("a tcp address must be 127.0.0.1:PORT, not %q", cfg.Address)
	}
	if _, ok := raw["idleTimeout"]; ok {
		text, err := str(raw, "idleTimeout")
		if err != nil {
			return cfg, err
		}
		if cfg.IdleTimeout, err = parseDuration(text); err != nil {
			return cfg, err
		}
	}
	if _, ok := raw["maxBodyBytes"]; ok {
		if cfg.MaxBodyBytes, err = integer(raw, "maxBodyBytes"); err != nil || cfg.MaxBodyBytes <= 0 {
			return cfg, errors.New("maxBodyBytes must be an integer above 0")
		}
	}
	if v, ok := raw["configTypes"]; ok {
		var list []json.RawMessage
		if json.Unmarshal(v, &list) != nil || list == nil {
			return cfg, errors.New("configTypes must be an array") // null included
		}
		// Each entry is {"type": string, "data": any}; entries of config
		// types this plugin does not declare are ignored (section 5.2).
		for i, e := range list {
			var entry map[string]json.RawMessage
			if json.Unmarshal(e, &entry) != nil || entry == nil {
				return cfg, fmt.Errorf("configTypes[%d] must be an object {\"type\": string, \"data\": any}", i)
			}
			if _, err := str(entry, "type"); err != nil {
				return cfg, fmt.Errorf("configTypes[%d].type must be a string", i)
			}
		}
	}
	return cfg, nil
}

var tcpAddress = regexp.MustCompile(`^127\.0\.0\.1:([0-9]{1,5})$`)

func validTCPAddress(address string) bool {
	m := tcpAddress.FindStringSubmatch(address)
	if m == nil {
		return false
	}
	port, err := strconv.Atoi(m[1])
	return err == nil && port <= 65535
}

func str(raw map[string]json.RawMessage, name string) (string, error) {
	v, ok := raw[name]
	var s string
	if !ok || bytes.Equal(v, []byte("null")) || json.Unmarshal(v, &s) != nil {
		return "", fmt.Errorf("%s must be a string", name)
	}
	return s, nil
}

func integer(raw map[string]json.RawMessage, name string) (int64, error) {
	v, ok := raw[name]
	if !ok {
		return 0, fmt.Errorf("%s is missing", name)
	}
	var n json.Number
	if json.Unmarshal(v, &n) != nil {
		return 0, fmt.Errorf("%s must be an integer", name)
	}
	return strconv.ParseInt(n.String(), 10, 64) // "1.0" and "1e3" fail: JSON integers only
}

// Durations: "0", or digits and a unit, the number at most 2^40 (section 5.3).
var durationSyntax = regexp.MustCompile(`^([0-9]+)(ms|s|m|h)$`)

const maxDurationNumber = 1 << 40

func parseDuration(text string) (time.Duration, error) {
	if text == "0" {
		return 0, nil
	}
	m := durationSyntax.FindStringSubmatch(text)
	if m == nil {
		return 0, fmt.Errorf("idleTimeout %q is not a duration such as 250ms, 10s, 5m, 1h or 0", text)
	}
	n, err := strconv.ParseUint(m[1], 10, 64)
	if err != nil || n > maxDurationNumber {
		return 0, fmt.Errorf("idleTimeout %q is over 2^40 %s", text, m[2])
	}
	unit := map[string]time.Duration{"ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour}[m[2]]
	if n > uint64(1<<63-1)/uint64(unit) {
		return 1<<63 - 1, nil // beyond ~292 years: as good as never
	}
	return time.Duration(n) * unit, nil
}
