package agent

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/opencis/cisauth/cis"
)

// Settings is the agent's configuration as a person writes it. It comes
// from a YAML file, then environment variables (CIS_AGENT_*), then command
// line flags, each overriding the one before; Build turns it into the
// agent's and the server's Config. Every key is optional but the
// environment. The PIN is never a setting.
type Settings struct {
	// Env is a preset (dev, local) or an environment file (as
	// cis.ResolveEnvironment takes).
	Env string `yaml:"env,omitempty"`
	// Environment is an environment written inline instead of Env (the
	// keys of an environment file: name, gas_url, ssb_url, portal_url,
	// trust_anchors, maintenance).
	Environment *cis.EnvironmentFile `yaml:"environment,omitempty"`
	// PKCS11Module is the card's PKCS#11 module (default: OpenSC's, where
	// the system keeps it).
	PKCS11Module string `yaml:"pkcs11_module,omitempty"`
	// Readers limits the agent to these PC/SC readers (default: all).
	Readers []string `yaml:"readers,omitempty"`
	// Role is the role to select at login when the user holds it.
	Role string `yaml:"role,omitempty"`
	// SSBMode is live (default) or training.
	SSBMode string `yaml:"ssb_mode,omitempty"`
	// Mode is normal (default), session-lock or mobility.
	Mode string `yaml:"mode,omitempty"`
	// KeepAlive is how often the session is kept alive (default 5m).
	KeepAlive time.Duration `yaml:"keep_alive,omitempty"`
	// LockTimeout ends a locked session after this long (default: never).
	LockTimeout time.Duration `yaml:"lock_timeout,omitempty"`
	// Mobility holds the mobility mode's timers.
	Mobility MobilitySettings `yaml:"mobility,omitempty"`
	// DeviceID is the device id sent to GAS (8 characters; default random).
	DeviceID string `yaml:"device_id,omitempty"`
	// Hash is the challenge signature's digest: sha1 (default) or sha256.
	Hash string `yaml:"hash,omitempty"`
	// Listen is the Ticket API's loopback TCP address (default
	// 127.0.0.1:7444, next to cis-sim's 7443, where the example app looks);
	// "off" for none.
	Listen string `yaml:"listen,omitempty"`
	// Socket is the Ticket API's unix socket (default
	// $XDG_RUNTIME_DIR/cis-agent/agent.sock); "off" for none.
	Socket string `yaml:"socket,omitempty"`
	// SecretFile holds the per-user secret of TCP callers (default next to
	// the socket).
	SecretFile string `yaml:"secret_file,omitempty"`
	// AllowedOrigins are the web origins whose pages may ask for the
	// ticket (after the person allows each).
	AllowedOrigins []string `yaml:"allowed_origins,omitempty"`
	// TicketWait bounds GET /ticket's wait for a login (default 2m).
	TicketWait time.Duration `yaml:"ticket_wait,omitempty"`
	// PINEntry lists where the PIN is asked: terminal, web (default both;
	// the terminal only when the agent runs on one).
	PINEntry []string `yaml:"pin_entry,omitempty"`
	// LogLevel is debug, info (default), warn or error.
	LogLevel string `yaml:"log_level,omitempty"`

	// dir is the directory of the file the settings came from (relative
	// paths of an inline environment are taken from there).
	dir string
}

// MobilitySettings are the mobility mode's timers.
type MobilitySettings struct {
	// AwayLock locks the session when the card has been out this long
	// (default 30m).
	AwayLock time.Duration `yaml:"away_lock,omitempty"`
	// ReauthenticateAfter locks it this long after the last PIN (default 8h).
	ReauthenticateAfter time.Duration `yaml:"reauthenticate_after,omitempty"`
}

// DefaultListen is the Ticket API's default address.
const DefaultListen = "127.0.0.1:7444"

// maxConfigFile caps a configuration file.
const maxConfigFile = 1 << 20

// envPrefix starts the agent's environment variables.
const envPrefix = "CIS_AGENT_"

// DefaultConfigFile is where the agent looks for its configuration when
// none is named: $XDG_CONFIG_HOME/cis-agent/config.yaml (Linux),
// ~/Library/Application Support/cis-agent/config.yaml (macOS).
func DefaultConfigFile() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "cis-agent", "config.yaml")
}

// LoadSettings reads the configuration file path (CIS_AGENT_CONFIG, else
// DefaultConfigFile when path is empty; a missing default file is no
// error), then applies the environment variables getenv gives. Unknown
// keys are an error.
func LoadSettings(path string, getenv func(string) string) (Settings, error) {
	var s Settings
	explicit := path != ""
	if path == "" {
		path = getenv(envPrefix + "CONFIG")
		explicit = path != ""
	}
	if path == "" {
		path = DefaultConfigFile()
	}
	if path != "" {
		err := s.readFile(path)
		if err != nil && (explicit || !errors.Is(err, fs.ErrNotExist)) {
			return Settings{}, err
		}
	}
	if err := s.applyEnv(getenv); err != nil {
		return Settings{}, err
	}
	return s, nil
}

func (s *Settings) readFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	if len(b) > maxConfigFile {
		return fmt.Errorf("config file %s: larger than %d bytes", path, maxConfigFile)
	}
	parsed, err := ParseSettings(b)
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	parsed.dir = filepath.Dir(path)
	*s = parsed
	return nil
}

// ParseSettings reads a YAML configuration; unknown keys are an error.
func ParseSettings(b []byte) (Settings, error) {
	var s Settings
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil && !errors.Is(err, io.EOF) {
		return Settings{}, err
	}
	if s.Env != "" && s.Environment != nil {
		return Settings{}, errors.New("give env or environment, not both")
	}
	return s, nil
}

// applyEnv applies the CIS_AGENT_* variables.
func (s *Settings) applyEnv(getenv func(string) string) error {
	if getenv(envPrefix+"PIN") != "" {
		return errors.New("CIS_AGENT_PIN is set: the PIN is never read from the environment; unset it")
	}
	str := map[string]*string{"ENV": &s.Env, "PKCS11_MODULE": &s.PKCS11Module, "ROLE": &s.Role, "SSB_MODE": &s.SSBMode,
		"MODE": &s.Mode, "DEVICE_ID": &s.DeviceID, "HASH": &s.Hash, "LISTEN": &s.Listen, "SOCKET": &s.Socket,
		"SECRET_FILE": &s.SecretFile, "LOG_LEVEL": &s.LogLevel}
	for k, p := range str {
		if v := getenv(envPrefix + k); v != "" {
			*p = v
		}
	}
	if s.Env != "" {
		s.Environment = nil
	}
	list := map[string]*[]string{"READERS": &s.Readers, "ALLOWED_ORIGINS": &s.AllowedOrigins, "PIN_ENTRY": &s.PINEntry}
	for k, p := range list {
		if v := getenv(envPrefix + k); v != "" {
			*p = splitList(v)
		}
	}
	dur := map[string]*time.Duration{"KEEP_ALIVE": &s.KeepAlive, "LOCK_TIMEOUT": &s.LockTimeout, "TICKET_WAIT": &s.TicketWait,
		"AWAY_LOCK": &s.Mobility.AwayLock, "REAUTHENTICATE_AFTER": &s.Mobility.ReauthenticateAfter}
	for k, p := range dur {
		if v := getenv(envPrefix + k); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%s%s: %w", envPrefix, k, err)
			}
			*p = d
		}
	}
	return nil
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Override applies the fields set in o (flags) over s.
func (s *Settings) Override(o Settings) {
	for _, f := range []struct{ dst, src *string }{{&s.Env, &o.Env}, {&s.PKCS11Module, &o.PKCS11Module},
		{&s.Role, &o.Role}, {&s.SSBMode, &o.SSBMode}, {&s.Mode, &o.Mode}, {&s.DeviceID, &o.DeviceID},
		{&s.Hash, &o.Hash}, {&s.Listen, &o.Listen}, {&s.Socket, &o.Socket}, {&s.SecretFile, &o.SecretFile},
		{&s.LogLevel, &o.LogLevel}} {
		if *f.src != "" {
			*f.dst = *f.src
		}
	}
	if o.Env != "" {
		s.Environment = nil
	}
	for _, f := range []struct{ dst, src *[]string }{{&s.Readers, &o.Readers}, {&s.AllowedOrigins, &o.AllowedOrigins},
		{&s.PINEntry, &o.PINEntry}} {
		if *f.src != nil {
			*f.dst = *f.src
		}
	}
	for _, f := range []struct{ dst, src *time.Duration }{{&s.KeepAlive, &o.KeepAlive}, {&s.LockTimeout, &o.LockTimeout},
		{&s.TicketWait, &o.TicketWait}, {&s.Mobility.AwayLock, &o.Mobility.AwayLock},
		{&s.Mobility.ReauthenticateAfter, &o.Mobility.ReauthenticateAfter}} {
		if *f.src != 0 {
			*f.dst = *f.src
		}
	}
}

// ResolveEnvironment returns the CIS environment: Env (a preset or a file) or
// the inline environment.
func (s Settings) ResolveEnvironment() (cis.Environment, error) {
	switch {
	case s.Environment != nil:
		b, err := yaml.Marshal(s.Environment)
		if err != nil {
			return cis.Environment{}, err
		}
		env, err := cis.ParseEnvironment(b, s.dir)
		if err != nil {
			return cis.Environment{}, fmt.Errorf("environment: %w", err)
		}
		return env, nil
	case s.Env != "":
		return cis.ResolveEnvironment(s.Env)
	}
	return cis.Environment{}, errors.New("no CIS environment: set env (dev, local or an environment file) in the config file, CIS_AGENT_ENV or --env")
}

// openSCModules are where systems keep OpenSC's PKCS#11 module.
var openSCModules = map[string][]string{
	"linux": {"/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so", "/usr/lib/aarch64-linux-gnu/opensc-pkcs11.so",
		"/usr/lib64/opensc-pkcs11.so", "/usr/lib/opensc-pkcs11.so", "/usr/local/lib/opensc-pkcs11.so"},
	"darwin": {"/Library/OpenSC/lib/opensc-pkcs11.so", "/opt/homebrew/lib/opensc-pkcs11.so", "/usr/local/lib/opensc-pkcs11.so"},
}

// DefaultModule returns the first OpenSC PKCS#11 module found where the
// system keeps it, or "".
func DefaultModule() string {
	for _, p := range openSCModules[runtime.GOOS] {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// RuntimeDir is where the agent keeps its socket and secret:
// $XDG_RUNTIME_DIR/cis-agent, else a per-user directory under the user's
// cache directory.
func RuntimeDir() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "cis-agent")
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "cis-agent")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("cis-agent-%d", os.Getuid()))
}

// Built is what Build makes of the settings.
type Built struct {
	Agent  Config
	Server ServerConfig
	// Terminal and Web say where the PIN is asked.
	Terminal, Web bool
	// Level is the log level.
	Level slog.Level
}

// Build checks the settings and fills in the defaults.
func (s Settings) Build(logger *slog.Logger) (*Built, error) {
	env, err := s.ResolveEnvironment()
	if err != nil {
		return nil, err
	}
	b := &Built{Terminal: true, Web: true}
	c := &b.Agent
	c.Env, c.Readers, c.Role, c.DeviceID, c.Logger = env, s.Readers, s.Role, s.DeviceID, logger
	c.KeepAlive, c.LockTimeout = s.KeepAlive, s.LockTimeout
	c.AwayLock, c.ReauthAfter = s.Mobility.AwayLock, s.Mobility.ReauthenticateAfter
	if c.Module = s.PKCS11Module; c.Module == "" {
		if c.Module = DefaultModule(); c.Module == "" {
			return nil, errors.New("no PKCS#11 module found: install OpenSC, or set pkcs11_module")
		}
	}
	if s.Mode != "" {
		if c.Mode, err = ParseMode(s.Mode); err != nil {
			return nil, err
		}
	}
	switch s.SSBMode {
	case "", "live":
		c.SSBMode = cis.ModeLive
	case "training":
		c.SSBMode = cis.ModeTraining
	default:
		return nil, fmt.Errorf("ssb_mode %q: want live or training", s.SSBMode)
	}
	switch strings.ToLower(s.Hash) {
	case "", "sha1", "sha-1":
		c.Hash = crypto.SHA1
	case "sha256", "sha-256":
		c.Hash = crypto.SHA256
	default:
		return nil, fmt.Errorf("hash %q: want sha1 or sha256", s.Hash)
	}
	if s.DeviceID != "" && !validDeviceID(s.DeviceID) {
		return nil, fmt.Errorf("device_id %q: want 8 characters a-z and 0-9", s.DeviceID)
	}
	if err := b.Level.UnmarshalText([]byte(orDefault(s.LogLevel, "info"))); err != nil {
		return nil, fmt.Errorf("log_level: %w", err)
	}
	if s.PINEntry != nil {
		b.Terminal, b.Web = false, false
		for _, p := range s.PINEntry {
			switch p {
			case "terminal":
				b.Terminal = true
			case "web":
				b.Web = true
			default:
				return nil, fmt.Errorf("pin_entry %q: want terminal or web", p)
			}
		}
	}
	sc := &b.Server
	sc.UID, sc.AllowedOrigins, sc.TicketWait, sc.Logger = -1, s.AllowedOrigins, s.TicketWait, logger
	sc.Addr = orDefault(s.Listen, DefaultListen)
	if sc.Addr == "off" {
		sc.Addr = ""
	}
	sc.Socket = orDefault(s.Socket, filepath.Join(RuntimeDir(), "agent.sock"))
	if sc.Socket == "off" {
		sc.Socket = ""
	}
	sc.SecretFile = orDefault(s.SecretFile, filepath.Join(RuntimeDir(), "secret"))
	if b.Web && sc.Addr == "" {
		return nil, errors.New("pin_entry web needs the TCP listener (listen: 127.0.0.1:PORT)")
	}
	return b, nil
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// validDeviceID: 8 characters of [a-z0-9], as GAS's device_id wants.
func validDeviceID(s string) bool {
	if len(s) != 8 {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// YAML writes the settings as a configuration file.
func (s Settings) YAML() ([]byte, error) { return yaml.Marshal(s) }
