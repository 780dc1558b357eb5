package simulator

// platform is an OS platform devices run and profiles target.
type platform struct {
	name      string   // osPlatform, e.g. WindowsServer2022
	os        string   // the profile's operatingSystem
	osVersion string   // the profile's operatingSystemVersion
	slug      string   // benchmarkVersion suffix, e.g. windows_server_2022
	stig      string   // prefix of STIG item ids, e.g. WN22
	builds    []string // osVersion values of the devices
	weight    float64  // relative number of devices
	server    bool
}

var platforms = []platform{
	{
		name: "Windows11", os: "Windows 11", osVersion: "23H2", slug: "windows_11_enterprise", stig: "WN11",
		builds: []string{"10.0.22631.4460", "10.0.22631.4541", "10.0.26100.2314", "10.0.26100.2605"},
		weight: 0.45,
	},
	{
		name: "Windows10", os: "Windows 10", osVersion: "22H2", slug: "windows_10_enterprise", stig: "WN10",
		builds: []string{"10.0.19045.5011", "10.0.19045.5131", "10.0.19045.5247"},
		weight: 0.30,
	},
	{
		name: "WindowsServer2022", os: "Windows Server", osVersion: "2022", slug: "windows_server_2022", stig: "WN22",
		builds: []string{"10.0.20348.2762", "10.0.20348.2849", "10.0.20348.2966"},
		weight: 0.12, server: true,
	},
	{
		name: "WindowsServer2019", os: "Windows Server", osVersion: "2019", slug: "windows_server_2019", stig: "WN19",
		builds: []string{"10.0.17763.2330", "10.0.17763.6414", "10.0.17763.6532"},
		weight: 0.09, server: true,
	},
	{
		name: "WindowsServer2016", os: "Windows Server", osVersion: "2016", slug: "windows_server_2016", stig: "WN16",
		builds: []string{"10.0.14393.7428", "10.0.14393.7515"},
		weight: 0.04, server: true,
	},
}

// profileTemplate is a baseline profile an administrator could create.
type profileTemplate struct {
	platform  int
	benchmark string
	version   string
	level     string
	name      string
}

const (
	levelWorkstation = "Level 1 (L1) - Corporate/Enterprise Environment (general use)"
	levelServer      = "Level 1 - Member Server"
	levelSTIG        = "CAT II"
)

// profileTemplates are used in order; tenants with more profiles reuse them at
// Level 2. Every benchmark version differs, so a profile's configurations can be
// told apart by benchmark name and version.
var profileTemplates = []profileTemplate{
	{0, "CIS", "3.0.0", levelWorkstation, "Windows 11 CIS workstation baseline"},
	{1, "CIS", "2.0.0", levelWorkstation, "Windows 10 CIS workstation baseline"},
	{2, "CIS", "3.0.1", levelServer, "Windows Server 2022 CIS member servers"},
	{3, "CIS", "2.0.1", levelServer, "Windows Server 2019 CIS member servers"},
	{4, "CIS", "1.4.0", levelServer, "Windows Server 2016 CIS legacy servers"},
	{0, "STIG", "1.5.0", levelSTIG, "Windows 11 STIG"},
	{2, "STIG", "1.4.0", levelSTIG, "Windows Server 2022 STIG"},
	{1, "STIG", "2.9.0", levelSTIG, "Windows 10 STIG"},
	{3, "STIG", "2.2.0", levelSTIG, "Windows Server 2019 STIG"},
	{4, "STIG", "2.8.0", levelSTIG, "Windows Server 2016 STIG"},
}

// item is one benchmark item. The same ids appear in every benchmark, each time
// with another uniqueId.
type item struct {
	id          string
	name        string
	category    string
	source      []string
	recommended []string
	good        []string // currentValue of a compliant device
	bad         []string // currentValue of a non-compliant device
}

const (
	regPolicies = `hkey_local_machine\software\policies\microsoft\`
	regSystem   = `hkey_local_machine\software\microsoft\windows\currentversion\policies\system\`
	regLsa      = `hkey_local_machine\system\currentcontrolset\control\lsa\`
	regFirewall = `hkey_local_machine\software\policies\microsoft\windowsfirewall\`
)

var items = []item{
	{"1.1.1", "(L1) Ensure 'Enforce password history' is set to '24 or more password(s)'", "Password Policy",
		[]string{"password_hist_len"}, []string{"Greater than or equal '24'"}, []string{"24"}, []string{"5"}},
	{"1.1.2", "(L1) Ensure 'Maximum password age' is set to '365 or fewer days, but not 0'", "Password Policy",
		[]string{"maximum_password_age"}, []string{"Less than or equal '365'", "Greater than '0'"}, []string{"90", "90"}, []string{"0", "0"}},
	{"1.1.3", "(L1) Ensure 'Minimum password age' is set to '1 or more day(s)'", "Password Policy",
		[]string{"minimum_password_age"}, []string{"Greater than or equal '1'"}, []string{"1"}, []string{"0"}},
	{"1.1.4", "(L1) Ensure 'Minimum password length' is set to '14 or more character(s)'", "Password Policy",
		[]string{"minimum_password_length"}, []string{"Greater than or equal '14'"}, []string{"14"}, []string{"8"}},
	{"1.1.5", "(L1) Ensure 'Password must meet complexity requirements' is set to 'Enabled'", "Password Policy",
		[]string{"password_complexity"}, []string{"Equals '1'"}, []string{"1"}, []string{"0"}},
	{"1.1.6", "(L1) Ensure 'Relax minimum password length limits' is set to 'Enabled'", "Password Policy",
		[]string{`hkey_local_machine\system\currentcontrolset\control\sam\relaxminimumpasswordlengthlimits`}, []string{"Equals '1'"}, []string{"1"}, []string{}},
	{"1.1.7", "(L1) Ensure 'Store passwords using reversible encryption' is set to 'Disabled'", "Password Policy",
		[]string{"clear_text_password"}, []string{"Equals '0'"}, []string{"0"}, []string{"1"}},
	{"1.2.1", "(L1) Ensure 'Account lockout duration' is set to '15 or more minute(s)'", "Account Lockout Policy",
		[]string{"lockout_duration"}, []string{"Greater than or equal '15'"}, []string{"15"}, []string{"5"}},
	{"1.2.2", "(L1) Ensure 'Account lockout threshold' is set to '5 or fewer invalid logon attempt(s), but not 0'", "Account Lockout Policy",
		[]string{"lockout_bad_count"}, []string{"Less than or equal '5'", "Greater than '0'"}, []string{"5", "5"}, []string{"0", "0"}},
	{"1.2.3", "(L1) Ensure 'Allow Administrator account lockout' is set to 'Enabled'", "Account Lockout Policy",
		[]string{"allow_administrator_lockout"}, []string{"Equals '1'"}, []string{"1"}, []string{"0"}},
	{"1.2.4", "(L1) Ensure 'Reset account lockout counter after' is set to '15 or more minute(s)'", "Account Lockout Policy",
		[]string{"reset_lockout_count"}, []string{"Greater than or equal '15'"}, []string{"15"}, []string{"1"}},
	{"2.2.1", "(L1) Ensure 'Access Credential Manager as a trusted caller' is set to 'No One'", "User Rights Assignment",
		[]string{"SeTrustedCredManAccessPrivilege"}, []string{"Equals ''"}, []string{}, []string{"*S-1-5-32-544"}},
	{"2.2.2", "(L1) Ensure 'Access this computer from the network' is set to 'Administrators, Authenticated Users'", "User Rights Assignment",
		[]string{"SeNetworkLogonRight"}, []string{"Equals '*S-1-5-11,*S-1-5-32-544'"}, []string{"*S-1-5-11,*S-1-5-32-544"}, []string{"*S-1-1-0,*S-1-5-32-544,*S-1-5-32-545,*S-1-5-32-551"}},
	{"2.2.3", "(L1) Ensure 'Act as part of the operating system' is set to 'No One'", "User Rights Assignment",
		[]string{"SeTcbPrivilege"}, []string{"Equals ''"}, []string{}, []string{"*S-1-5-32-544"}},
	{"2.3.1.1", "(L1) Ensure 'Accounts: Block Microsoft accounts' is set to 'Users can't add or log on with Microsoft accounts'", "Security Options",
		[]string{regSystem + "noconnecteduser"}, []string{"Equals '3'"}, []string{"3"}, []string{"0"}},
	{"2.3.1.3", "(L1) Ensure 'Accounts: Guest account status' is set to 'Disabled'", "Security Options",
		[]string{"enable_guest_account"}, []string{"Equals '0'"}, []string{"0"}, []string{"1"}},
	{"2.3.2.1", "(L1) Ensure 'Audit: Force audit policy subcategory settings to override audit policy category settings' is set to 'Enabled'", "Security Options",
		[]string{regLsa + "scenoapplylegacyauditpolicy"}, []string{"Equals '1'"}, []string{"1"}, []string{}},
	{"2.3.7.1", "(L1) Ensure 'Interactive logon: Do not require CTRL+ALT+DEL' is set to 'Disabled'", "Security Options",
		[]string{regSystem + "disablecad"}, []string{"Equals '0'"}, []string{"0"}, []string{"1"}},
	{"2.3.7.3", "(L1) Ensure 'Interactive logon: Machine inactivity limit' is set to '900 or fewer second(s), but not 0'", "Security Options",
		[]string{regSystem + "inactivitytimeoutsecs"}, []string{"Less than or equal '900'", "Greater than '0'"}, []string{"900", "900"}, []string{}},
	{"2.3.9.1", "(L1) Ensure 'Microsoft network server: Amount of idle time required before suspending session' is set to '15 or fewer minute(s)'", "Security Options",
		[]string{`hkey_local_machine\system\currentcontrolset\services\lanmanserver\parameters\autodisconnect`}, []string{"Less than or equal '15'"}, []string{"15"}, []string{"60"}},
	{"2.3.10.2", "(L1) Ensure 'Network access: Do not allow anonymous enumeration of SAM accounts' is set to 'Enabled'", "Security Options",
		[]string{regLsa + "restrictanonymoussam"}, []string{"Equals '1'"}, []string{"1"}, []string{"0"}},
	{"2.3.11.7", "(L1) Ensure 'Network security: LAN Manager authentication level' is set to 'Send NTLMv2 response only. Refuse LM & NTLM'", "Security Options",
		[]string{regLsa + "lmcompatibilitylevel"}, []string{"Equals '5'"}, []string{"5"}, []string{"3"}},
	{"2.3.17.1", "(L1) Ensure 'User Account Control: Admin Approval Mode for the Built-in Administrator account' is set to 'Enabled'", "Security Options",
		[]string{regSystem + "filteradministratortoken"}, []string{"Equals '1'"}, []string{"1"}, []string{"0"}},
	{"5.1", "(L2) Ensure 'Bluetooth Audio Gateway Service (BTAGService)' is set to 'Disabled'", "System Services",
		[]string{`hkey_local_machine\system\currentcontrolset\services\btagservice\start`}, []string{"Equals '4'"}, []string{"4"}, []string{"3"}},
	{"9.1.1", "(L1) Ensure 'Windows Firewall: Domain: Firewall state' is set to 'On (recommended)'", "Domain Profile",
		[]string{regFirewall + `domainprofile\enablefirewall`}, []string{"Equals '1'"}, []string{"1"}, []string{"0"}},
	{"9.1.2", "(L1) Ensure 'Windows Firewall: Domain: Inbound connections' is set to 'Block (default)'", "Domain Profile",
		[]string{regFirewall + `domainprofile\defaultinboundaction`}, []string{"Equals '1'"}, []string{"1"}, []string{"0"}},
	{"9.2.1", "(L1) Ensure 'Windows Firewall: Private: Firewall state' is set to 'On (recommended)'", "Private Profile",
		[]string{regFirewall + `privateprofile\enablefirewall`}, []string{"Equals '1'"}, []string{"1"}, []string{"0"}},
	{"9.3.1", "(L1) Ensure 'Windows Firewall: Public: Firewall state' is set to 'On (recommended)'", "Public Profile",
		[]string{regFirewall + `publicprofile\enablefirewall`}, []string{"Equals '1'"}, []string{"1"}, []string{"0"}},
	{"9.3.9", "(L1) Ensure 'Windows Firewall: Public: Logging: Log dropped packets' is set to 'Yes'", "Public Profile",
		[]string{regFirewall + `publicprofile\logging\logdroppedpackets`}, []string{"Equals '1'"}, []string{"1"}, []string{}},
	{"17.1.1", "(L1) Ensure 'Audit Credential Validation' is set to 'Success and Failure'", "Account Logon",
		[]string{"Credential Validation"}, []string{"Equals 'Success and Failure'"}, []string{"Success and Failure"}, []string{"Success"}},
	{"17.2.1", "(L1) Ensure 'Audit Application Group Management' is set to 'Success and Failure'", "Account Management",
		[]string{"Application Group Management"}, []string{"Equals 'Success and Failure'"}, []string{"Success and Failure"}, []string{"No Auditing"}},
	{"17.5.1", "(L1) Ensure 'Audit Account Lockout' is set to include 'Failure'", "Logon/Logoff",
		[]string{"Account Lockout"}, []string{"Contains 'Failure'"}, []string{"Success and Failure"}, []string{"Success"}},
	{"17.9.1", "(L1) Ensure 'Audit IPsec Driver' is set to 'Success and Failure'", "System",
		[]string{"IPsec Driver"}, []string{"Equals 'Success and Failure'"}, []string{"Success and Failure"}, []string{"No Auditing"}},
	{"18.1.1.1", "(L1) Ensure 'Prevent enabling lock screen camera' is set to 'Enabled'", "Personalization",
		[]string{regPolicies + `windows\personalization\nolockscreencamera`}, []string{"Equals '1'"}, []string{"1"}, []string{}},
	{"18.4.1", "(L1) Ensure 'Configure SMB v1 client driver' is set to 'Enabled: Disable driver (recommended)'", "MS Security Guide",
		[]string{`hkey_local_machine\system\currentcontrolset\services\mrxsmb10\start`}, []string{"Equals '4'"}, []string{"4"}, []string{"2"}},
	{"18.5.1", "(L1) Ensure 'MSS: (AutoAdminLogon) Enable Automatic Logon (not recommended)' is set to 'Disabled'", "MSS (Legacy)",
		[]string{`hkey_local_machine\software\microsoft\windows nt\currentversion\winlogon\autoadminlogon`}, []string{"Equals '0'"}, []string{"0"}, []string{"1"}},
	{"18.9.4.1", "(L1) Ensure 'Encryption Oracle Remediation' is set to 'Enabled: Force Updated Clients'", "Credentials Delegation",
		[]string{regSystem + `credssp\parameters\allowencryptionoracle`}, []string{"Equals '0'"}, []string{"0"}, []string{"2"}},
	{"18.10.8.1", "(L1) Ensure 'Disallow Autoplay for non-volume devices' is set to 'Enabled'", "AutoPlay Policies",
		[]string{regPolicies + `windows\explorer\noautoplayfornonvolume`}, []string{"Equals '1'"}, []string{"1"}, []string{}},
	{"18.10.9.1.1", "(L1) Ensure 'Allow access to BitLocker-protected fixed data drives from earlier versions of Windows' is set to 'Disabled'", "BitLocker Drive Encryption",
		[]string{regPolicies + `fve\fdvdiscoveryvolumetype`}, []string{"Equals ''"}, []string{}, []string{"<none>"}},
	{"19.1.3.1", "(L1) Ensure 'Enable screen saver' is set to 'Enabled'", "Personalization",
		[]string{`hkey_users\[sid]\software\policies\microsoft\windows\control panel\desktop\screensaveactive`}, []string{"Equals '1'"}, []string{"1"}, []string{"0"}},
}

// templateSettings name the Administrative Templates settings used for items
// beyond the catalog above.
var templateSettings = []string{
	"Turn off Microsoft consumer experiences",
	"Do not display network selection UI",
	"Require secure RPC communication",
	"Configure Windows Defender SmartScreen",
	"Turn off app notifications on the lock screen",
	"Block user from showing account details on sign-in",
	"Do not enumerate connected users on domain-joined computers",
	"Turn off downloading of print drivers over HTTP",
	"Enable Certificate Padding",
	"Turn on PowerShell Script Block Logging",
	"Disallow Digest authentication",
	"Prevent downloading of enclosures",
	"Allow Basic authentication",
	"Turn off Autoplay",
	"Configure Attack Surface Reduction rules",
	"Turn off toast notifications on the lock screen",
}

// groupTemplate is an RBAC device group.
type groupTemplate struct {
	name   string
	id     int
	server bool
}

var groupTemplates = []groupTemplate{
	{"Servers-EU", 86, true},
	{"Workstations-EU", 112, false},
	{"Servers-US", 45, true},
	{"Workstations-US", 203, false},
	{"Domain Controllers", 97, true},
	{"Workstations-APAC", 158, false},
	{"Servers-APAC", 31, true},
	{"Kiosks", 240, false},
	{"Developers", 66, false},
	{"Finance", 179, false},
	{"Servers-UK", 122, true},
	{"Workstations-UK", 14, false},
}

// stigCategories give STIG item ids their two-letter area code.
var stigCategories = map[string]string{
	"Password Policy":        "AC",
	"Account Lockout Policy": "AC",
	"User Rights Assignment": "UR",
	"Security Options":       "SO",
	"System Services":        "00",
	"Account Logon":          "AU",
	"Account Management":     "AU",
	"Logon/Logoff":           "AU",
	"System":                 "AU",
}
