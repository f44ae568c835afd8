package agent

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/internal/regfile"
)

// The Windows Identity Agents are configured by registry values; NHS
// Digital's development environments page gives them as .reg files for
// HSCIC Identity Agent 1 and 2 (32- and 64-bit: with and without
// Wow6432Node) and for the BT Identity Agent (Gemplus\GAC). ImportRegistry
// turns such a file into the agent's Settings.

// ImportOptions supply what a registry file may not say.
type ImportOptions struct {
	// SSBURL is the SSB's base URL, for a file that names no role
	// selection URL (Identity Agent 2's) of an environment that is not a
	// preset.
	SSBURL string
	// TrustAnchors is a PEM file with the TLS trust anchors of an
	// environment that is not a preset.
	TrustAnchors string
}

// Imported is the configuration made from a registry file.
type Imported struct {
	// Settings is the configuration.
	Settings Settings
	// Agent names the agent the file configures, and its key.
	Agent string
	// Notes list the values not carried over, and why.
	Notes []string
}

// ErrNoAgentKey means a registry file holds no Identity Agent settings.
var ErrNoAgentKey = errors.New(`no Identity Agent settings in the file (want a key ...\HSCIC\Identity Agent or ...\Gemplus\GAC)`)

// agentKeys are the keys the Identity Agents read, after the registry
// root, lower case.
var agentKeys = map[string]string{
	`software\hscic\identity agent`:             "HSCIC Identity Agent (32-bit registry view)",
	`software\wow6432node\hscic\identity agent`: "HSCIC Identity Agent (64-bit Windows, 32-bit view)",
	`software\gemplus\gac`:                      "BT Identity Agent",
	`software\wow6432node\gemplus\gac`:          "BT Identity Agent (64-bit Windows, 32-bit view)",
}

// What each registry value means to the import.
const (
	regActivate  = "activate"
	regLogout    = "logout"
	regRoleSel   = "role selection"
	regSSBOther  = "ssb page"
	regPortal    = "portal"
	regMobility  = "mobility"
	regLock      = "session lock"
	regDeviceID  = "device id"
	regNotNeeded = "not needed"
)

var regValues = map[string]string{
	"activateposturl":                 regActivate,
	"activate.url":                    regActivate,
	"logoffposturl":                   regLogout,
	"logout.url":                      regLogout,
	"roleselectiongetposturl":         regRoleSel,
	"roleselection.url":               regRoleSel,
	"authentication.startbrowser.url": regSSBOther,
	"device.id.url":                   regSSBOther,
	"launchappspath":                  regPortal,
	"portal.url":                      regPortal,
	"mobilitypersistence_available":   regMobility,
	"sessionlockpersistence_enabled":  regLock,
	"device.id":                       regDeviceID,
	"updatewatcher.enable":            regNotNeeded,
}

// ImportRegistry reads an Identity Agent registry file and returns the
// agent's configuration: the environment (a preset when the URLs are one's,
// else written inline), the session mode and the device id.
func ImportRegistry(data []byte, opts ImportOptions) (*Imported, error) {
	f, err := regfile.Parse(data)
	if err != nil {
		return nil, err
	}
	im := &Imported{}
	vals := map[string][]string{} // meaning → values
	var agents []string
	for _, k := range f.Keys {
		_, rest, _ := strings.Cut(k.Path, `\`)
		name, ok := agentKeys[strings.ToLower(rest)]
		if !ok {
			im.Notes = append(im.Notes, "key "+k.Path+": not an Identity Agent key, ignored")
			continue
		}
		if k.Delete {
			return nil, fmt.Errorf("the file deletes the key %s: not a settings file", k.Path)
		}
		agents = append(agents, name+", "+k.Path)
		for _, v := range k.Values {
			meaning, known := regValues[strings.ToLower(v.Name)]
			switch {
			case !known:
				im.Notes = append(im.Notes, v.Name+": not an Identity Agent setting the agent knows, ignored")
				continue
			case meaning == regNotNeeded:
				im.Notes = append(im.Notes, v.Name+": not needed (the agent has no update watcher)")
				continue
			case v.Kind == regfile.Delete:
				return nil, fmt.Errorf("line %d: the file deletes %s: not a settings file", v.Line, v.Name)
			}
			text, err := regText(v)
			if err != nil {
				return nil, err
			}
			vals[meaning] = append(vals[meaning], text)
		}
	}
	if len(agents) == 0 {
		return nil, ErrNoAgentKey
	}
	im.Agent = strings.Join(agents, "; ")
	one := func(meaning string) (string, error) {
		var v string
		for _, x := range vals[meaning] {
			if v != "" && x != v {
				return "", fmt.Errorf("the file gives two different %s values: %q and %q", meaning, v, x)
			}
			v = x
		}
		return v, nil
	}
	get := map[string]string{}
	for meaning := range vals {
		if meaning == regSSBOther {
			continue
		}
		v, err := one(meaning)
		if err != nil {
			return nil, err
		}
		get[meaning] = v
	}
	if err := im.environment(get, vals[regSSBOther], opts); err != nil {
		return nil, err
	}
	if err := im.mode(get); err != nil {
		return nil, err
	}
	if id := get[regDeviceID]; id != "" {
		if validDeviceID(id) {
			im.Settings.DeviceID = id
		} else {
			im.Notes = append(im.Notes, "Device.id "+id+": not 8 characters a-z 0-9, ignored (a random one is used)")
		}
	}
	sort.Strings(im.Notes)
	return im, nil
}

// regText returns a value's text: a string, or a dword as a number.
func regText(v regfile.Value) (string, error) {
	switch v.Kind {
	case regfile.String:
		return strings.TrimSpace(v.Str), nil
	case regfile.DWord:
		return fmt.Sprint(v.DWord), nil
	case regfile.Hex:
		if v.HexType == 2 || v.HexType == 1 {
			return strings.TrimSpace(regfile.UTF16String(v.Data)), nil
		}
	}
	return "", fmt.Errorf("line %d: %s has binary data; want a string", v.Line, v.Name)
}

// baseOf checks that raw is an http(s) URL whose path is want (a query,
// such as the BT agent's <SSO_TICKET> template, is dropped) and returns
// its base, scheme://host[:port].
func baseOf(what, raw, want string) (string, error) {
	raw, _, _ = strings.Cut(raw, "?")
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return "", fmt.Errorf("%s %q is not an http(s) URL", what, raw)
	}
	if u.Path != want {
		return "", fmt.Errorf("%s %q: the agent needs the path %s on that host", what, raw, want)
	}
	return u.Scheme + "://" + u.Host, nil
}

// environment works out GAS, SSB and portal, and writes them as a preset
// or inline.
func (im *Imported) environment(get map[string]string, ssbPages []string, opts ImportOptions) error {
	if get[regActivate] == "" {
		return errors.New("the file names no activate URL (ActivatePOSTURL or Activate.URL)")
	}
	gas, err := baseOf("activate URL", get[regActivate], "/login/authactivate")
	if err != nil {
		return err
	}
	if l := get[regLogout]; l != "" {
		lb, err := baseOf("logout URL", l, "/login/authlogout")
		if err != nil {
			return err
		}
		if lb != gas {
			return fmt.Errorf("logout URL %q is not on GAS %s: the agent logs out where it logs in", l, gas)
		}
	}
	var ssb string
	check := func(what, raw, path string) error {
		b, err := baseOf(what, raw, path)
		if err != nil {
			return err
		}
		if ssb != "" && b != ssb {
			return fmt.Errorf("%s %q is not on the same SSB as %s", what, raw, ssb)
		}
		ssb = b
		return nil
	}
	if r := get[regRoleSel]; r != "" {
		if err := check("role selection URL", r, "/saml/RoleSelectionGP.jsp"); err != nil {
			return err
		}
	}
	for _, p := range ssbPages {
		path := "/saml/RoleSelectionWT.jsp"
		if strings.Contains(strings.ToLower(p), "deviceidlogger") {
			path = "/ssb/DeviceIDLogger"
		}
		if err := check("SSB page URL", p, path); err != nil {
			return err
		}
	}
	portal := get[regPortal]
	for _, name := range cis.PresetNames() {
		preset, err := cis.Preset(name)
		if err != nil || preset.GASURL != gas || (ssb != "" && preset.SSBURL != ssb) {
			continue
		}
		im.Settings.Env = name
		if portal != "" && strings.TrimRight(portal, "/") != strings.TrimRight(preset.PortalURL, "/") {
			im.Notes = append(im.Notes, "portal "+portal+": the "+name+" environment's portal is "+preset.PortalURL)
		}
		return nil
	}
	if ssb == "" {
		if ssb = opts.SSBURL; ssb == "" {
			return fmt.Errorf("GAS %s is not a known environment's and the file names no SSB (role selection) URL: give the SSB's base URL (--ssb-url)", gas)
		}
	}
	env := cis.EnvironmentFile{Name: "imported", GASURL: gas, SSBURL: ssb, PortalURL: portal}
	if opts.TrustAnchors != "" {
		env.TrustAnchors = []cis.TrustAnchorEntry{{File: opts.TrustAnchors}}
	} else if strings.HasPrefix(gas, "https:") || strings.HasPrefix(ssb, "https:") {
		return fmt.Errorf("GAS %s is not a known environment's: give the PEM file of its TLS trust anchors (--ca); TLS is never unverified", gas)
	}
	im.Settings.Environment = &env
	return nil
}

// mode maps the persistence settings to the session mode.
func (im *Imported) mode(get map[string]string) error {
	flag := func(meaning string) (bool, bool, error) {
		v, ok := get[meaning]
		if !ok {
			return false, false, nil
		}
		switch strings.ToLower(v) {
		case "true", "1", "yes":
			return true, true, nil
		case "false", "0", "no":
			return false, true, nil
		}
		return false, false, fmt.Errorf("%s %q: want True or False", meaning, v)
	}
	lock, lockSet, err := flag(regLock)
	if err != nil {
		return err
	}
	mobility, mobSet, err := flag(regMobility)
	if err != nil {
		return err
	}
	switch {
	case lock:
		im.Settings.Mode = ModeSessionLock.String()
		if mobility {
			im.Notes = append(im.Notes, "MobilityPersistence_Available: session lock is enabled as well, and wins")
		}
	case mobility:
		im.Settings.Mode = ModeMobility.String()
	case lockSet || mobSet:
		im.Settings.Mode = ModeNormal.String()
	}
	return nil
}

// YAML writes the imported configuration with comments saying where it
// came from and what was left out.
func (im *Imported) YAML(source string) ([]byte, error) {
	body, err := im.Settings.YAML()
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("# cis-agent configuration imported from " + source + "\n")
	b.WriteString("# " + im.Agent + "\n")
	if len(im.Notes) > 0 {
		b.WriteString("# Not carried over:\n")
		for _, n := range im.Notes {
			b.WriteString("#   " + n + "\n")
		}
	}
	b.Write(body)
	return []byte(b.String()), nil
}
