package regfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"
)

const fixtures = "../../testdata/identity-agent"

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestIdentityAgentFiles: the registry files of NHS Digital's development
// environments page, as regedit and Notepad save them, all parse to the
// same settings.
func TestIdentityAgentFiles(t *testing.T) {
	for name, want := range map[string]struct {
		version int
		key     string
		values  map[string]string
	}{
		"ia2-64bit.reg": {5, `HKEY_LOCAL_MACHINE\SOFTWARE\Wow6432Node\HSCIC\Identity Agent`, map[string]string{
			"ActivatePOSTURL": "https://gas.vn03.national.ncrs.nhs.uk/login/authactivate", "SessionLockPersistence_Enabled": "False"}},
		"ia2-64bit-regedit4.reg": {4, `HKEY_LOCAL_MACHINE\SOFTWARE\Wow6432Node\HSCIC\Identity Agent`, map[string]string{
			"LaunchAppsPath": "https://portal.vn03.national.ncrs.nhs.uk", "mobilitypersistence_available": "False"}},
		"ia2-32bit.reg": {5, `HKEY_LOCAL_MACHINE\SOFTWARE\HSCIC\Identity Agent`, map[string]string{
			"MobilityPersistence_Available": "False"}},
		"ia1-64bit.reg": {5, `HKEY_LOCAL_MACHINE\SOFTWARE\Wow6432Node\HSCIC\Identity Agent`, map[string]string{
			"LogoffPOSTURL": "https://gas.vn03.national.ncrs.nhs.uk/login/authlogout"}},
		"ia1-32bit.reg": {5, `HKEY_LOCAL_MACHINE\SOFTWARE\HSCIC\Identity Agent`, map[string]string{
			"RoleSelectionGETPOSTURL": "https://sbapi.vn03.national.ncrs.nhs.uk/saml/RoleSelectionGP.jsp"}},
		"bt-ia13.reg": {5, `HKEY_LOCAL_MACHINE\SOFTWARE\Gemplus\GAC`, map[string]string{
			"Device.id": "1ef2f9cc", "Portal.URL": "https://portal.vn03.national.ncrs.nhs.uk",
			"Device.id.URL": "https://sbapi.vn03.national.ncrs.nhs.uk/ssb/DeviceIDLogger?ipaddress=<IP_ADR>&latestdeviceid=<DEVICE_ID>&storeddeviceid=<OLD_DEVICE_ID>&token=<SSO_TICKET>"}},
	} {
		t.Run(name, func(t *testing.T) {
			f, err := Parse(readFixture(t, name))
			if err != nil {
				t.Fatal(err)
			}
			if f.Version != want.version || len(f.Keys) != 1 || f.Keys[0].Path != want.key || f.Keys[0].Line != 3 {
				t.Fatalf("version %d, keys %+v", f.Version, f.Keys)
			}
			for n, v := range want.values {
				got, ok := f.Keys[0].Value(n)
				if !ok || got.Kind != String || got.Str != v {
					t.Errorf("%s = %+v, want %q", n, got, v)
				}
			}
		})
	}
	f, err := Parse(readFixture(t, "bt-ia13.reg"))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := f.Keys[0].Value("UpdateWatcher.enable"); !ok || v.Kind != DWord || v.DWord != 0 {
		t.Errorf("dword value: %+v", v)
	}
}

func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := []byte{0xFF, 0xFE}
	for _, c := range u {
		b = append(b, byte(c), byte(c>>8))
	}
	return b
}

// TestValueForms: every data form regedit writes.
func TestValueForms(t *testing.T) {
	src := "Windows Registry Editor Version 5.00\r\n\r\n; a comment\r\n[HKEY_CURRENT_USER\\Software\\Test]\r\n" +
		"@=\"default\"\r\n" +
		"\"Quoted\"=\"say \\\"hi\\\" to C:\\\\path\"\r\n" +
		"\"Count\"=dword:0000002A\r\n" +
		"\"Bin\"=hex:01,02,ff\r\n" +
		"\"Expand\"=hex(2):25,00,50,00,41,00,54,00,48,00,25,00,00,00\r\n" +
		"\"Long\"=hex:00,01,02,03,04,05,06,07,08,09,0a,0b,0c,0d,0e,0f,10,11,12,13,14,15,\\\r\n  16,17,18\r\n" +
		"\"Gone\"=-\r\n" +
		"\"Ünïcode name\"=\"välue €\"\r\n" +
		"\r\n[-HKEY_CURRENT_USER\\Software\\Old]\r\n"
	for name, data := range map[string][]byte{"utf-16le": utf16le(src), "utf-8": []byte(src)} {
		t.Run(name, func(t *testing.T) {
			f, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Keys) != 2 || !f.Keys[1].Delete || f.Keys[1].Path != `HKEY_CURRENT_USER\Software\Old` {
				t.Fatalf("keys %+v", f.Keys)
			}
			k := f.Keys[0]
			check := func(name string, ok bool) {
				t.Helper()
				if !ok {
					v, _ := k.Value(name)
					t.Errorf("%q: %+v", name, v)
				}
			}
			v, _ := k.Value("")
			check("", v.Kind == String && v.Str == "default")
			v, _ = k.Value("Quoted")
			check("Quoted", v.Str == `say "hi" to C:\path`)
			v, _ = k.Value("count")
			check("count", v.Kind == DWord && v.DWord == 42)
			v, _ = k.Value("Bin")
			check("Bin", v.Kind == Hex && v.HexType == 0 && bytes.Equal(v.Data, []byte{1, 2, 0xff}))
			v, _ = k.Value("Expand")
			check("Expand", v.HexType == 2 && UTF16String(v.Data) == "%PATH%")
			v, _ = k.Value("Long")
			check("Long", len(v.Data) == 25 && v.Data[24] == 0x18 && v.Line == 10)
			v, _ = k.Value("Gone")
			check("Gone", v.Kind == Delete)
			v, _ = k.Value("Ünïcode name")
			check("Ünïcode name", v.Str == "välue €")
		})
	}
}

func TestRefusals(t *testing.T) {
	const hdr = "Windows Registry Editor Version 5.00\r\n"
	for name, c := range map[string]struct {
		data string
		want error
	}{
		"empty":               {"", ErrNotRegistry},
		"blank":               {"\r\n\r\n", ErrNotRegistry},
		"yaml":                {"env: dev\nrole: 555000000101\n", ErrNotRegistry},
		"html":                {"<html><body>Registry File HSCIC Identity Agent 2</body></html>", ErrNotRegistry},
		"binary":              {"\x7fELF\x02\x01\x01\x00\x00\x00", ErrNotRegistry},
		"header later":        {"hello\r\n" + hdr, ErrNotRegistry},
		"value before key":    {hdr + `"a"="b"`, ErrSyntax},
		"unclosed key":        {hdr + `[HKEY_LOCAL_MACHINE\x`, ErrSyntax},
		"not a root":          {hdr + `[SOFTWARE\HSCIC]`, ErrSyntax},
		"unclosed string":     {hdr + "[HKEY_CURRENT_USER\\x]\r\n\"a\"=\"b", ErrSyntax},
		"bad escape":          {hdr + "[HKEY_CURRENT_USER\\x]\r\n\"a\"=\"b\\n\"", ErrSyntax},
		"stray quote":         {hdr + "[HKEY_CURRENT_USER\\x]\r\n\"a\"=\"b\"c\"", ErrSyntax},
		"bad dword":           {hdr + "[HKEY_CURRENT_USER\\x]\r\n\"a\"=dword:1234567890", ErrSyntax},
		"signed dword":        {hdr + "[HKEY_CURRENT_USER\\x]\r\n\"a\"=dword:-1", ErrSyntax},
		"bad hex":             {hdr + "[HKEY_CURRENT_USER\\x]\r\n\"a\"=hex:1g", ErrSyntax},
		"unknown data":        {hdr + "[HKEY_CURRENT_USER\\x]\r\n\"a\"=qword:1", ErrSyntax},
		"no equals":           {hdr + "[HKEY_CURRENT_USER\\x]\r\n\"a\" \"b\"", ErrSyntax},
		"value under deleted": {hdr + "[-HKEY_CURRENT_USER\\x]\r\n\"a\"=\"b\"", ErrSyntax},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(c.data))
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is more than one line: %q", err)
			}
		})
	}
	if _, err := Parse(bytes.Repeat([]byte{' '}, MaxSize+1)); err == nil {
		t.Error("oversized input accepted")
	}
}

func FuzzParse(f *testing.F) {
	entries, err := os.ReadDir(fixtures)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		f.Add(readFixture(f, e.Name()))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			var se *SyntaxError
			if !errors.Is(err, ErrNotRegistry) && !errors.As(err, &se) && len(data) <= MaxSize {
				t.Fatalf("error is neither ErrNotRegistry nor a *SyntaxError: %v", err)
			}
			return
		}
		if file.Version != 4 && file.Version != 5 {
			t.Fatalf("version %d", file.Version)
		}
		for _, k := range file.Keys {
			if k.Path == "" || k.Line < 2 {
				t.Fatalf("key %+v", k)
			}
			for _, v := range k.Values {
				if v.Kind < String || v.Kind > Delete || v.Line < k.Line || len(v.Data) > maxValueData {
					t.Fatalf("value %+v", v)
				}
			}
		}
	})
}
