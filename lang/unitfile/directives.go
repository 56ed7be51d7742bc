package unitfile

import "slices"

// unitIgnored are [Unit] directives that have no effect in vmtest, and
// why: vmtest starts exactly the services a machine lists, in the order
// of After= and Before= among them (and of the jobs' after lists).
var unitIgnored = tableOf("vmtest starts exactly the listed services; list every one you need",
	"Documentation", "Requires", "Wants", "BindsTo", "Requisite", "PartOf", "Upholds", "Conflicts",
	"OnFailure", "OnSuccess", "OnFailureJobMode", "PropagatesReloadTo", "ReloadPropagatedFrom",
	"PropagatesStopTo", "StopPropagatedFrom", "JoinsNamespaceOf", "RequiresMountsFor", "DefaultDependencies",
	"IgnoreOnIsolate", "StopWhenUnneeded", "RefuseManualStart", "RefuseManualStop", "AllowIsolate",
	"CollectMode", "FailureAction", "SuccessAction", "FailureActionExitStatus", "SuccessActionExitStatus",
	"JobTimeoutSec", "JobRunningTimeoutSec", "JobTimeoutAction", "JobTimeoutRebootArgument",
	"StartLimitIntervalSec", "StartLimitInterval", "StartLimitBurst", "StartLimitAction", "RebootArgument", "SourcePath",
)

// serviceIgnored are [Service] directives that have no effect in vmtest,
// by why.
var serviceIgnored = merge(
	tableOf("the guest is the sandbox: vmtest does not confine services",
		"PrivateTmp", "PrivateDevices", "PrivateNetwork", "PrivateUsers", "PrivateMounts", "PrivateIPC",
		"ProtectSystem", "ProtectHome", "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
		"ProtectControlGroups", "ProtectClock", "ProtectHostname", "ProtectProc", "ProcSubset",
		"NoNewPrivileges", "CapabilityBoundingSet", "AmbientCapabilities", "SecureBits",
		"SystemCallFilter", "SystemCallArchitectures", "SystemCallErrorNumber", "SystemCallLog",
		"RestrictAddressFamilies", "RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID",
		"RestrictFileSystems", "LockPersonality", "MemoryDenyWriteExecute", "ReadWritePaths", "ReadOnlyPaths",
		"InaccessiblePaths", "ExecPaths", "NoExecPaths", "TemporaryFileSystem", "BindPaths", "BindReadOnlyPaths",
		"RemoveIPC", "KeyringMode", "DevicePolicy", "DeviceAllow", "IPAddressDeny", "IPAddressAllow",
		"IPAccounting", "NetworkNamespacePath", "IPCNamespacePath", "ProtectSystemd", "SELinuxContext",
		"AppArmorProfile", "SmackProcessLabel", "NotifyAccess", "PAMName", "UMask"),
	tableOf("vmtest does not limit resources",
		"LimitCPU", "LimitFSIZE", "LimitDATA", "LimitSTACK", "LimitCORE", "LimitRSS", "LimitNOFILE",
		"LimitAS", "LimitNPROC", "LimitMEMLOCK", "LimitLOCKS", "LimitSIGPENDING", "LimitMSGQUEUE",
		"LimitNICE", "LimitRTPRIO", "LimitRTTIME", "TasksMax", "MemoryMax", "MemoryHigh", "MemoryLimit",
		"MemoryLow", "MemoryMin", "MemorySwapMax", "CPUQuota", "CPUWeight", "CPUShares", "IOWeight",
		"BlockIOWeight", "Delegate", "Slice", "CPUAccounting", "MemoryAccounting", "TasksAccounting",
		"IOAccounting", "Nice", "IOSchedulingClass", "IOSchedulingPriority", "CPUSchedulingPolicy",
		"CPUSchedulingPriority", "CPUSchedulingResetOnFork", "CPUAffinity", "OOMScoreAdjust", "OOMPolicy",
		"TimerSlackNSec", "Personality", "CoredumpFilter", "ManagedOOMSwap", "ManagedOOMMemoryPressure"),
	tableOf("output goes to the console or the files of StandardOutput=",
		"SyslogIdentifier", "SyslogFacility", "SyslogLevel", "SyslogLevelPrefix", "LogLevelMax",
		"LogExtraFields", "LogRateLimitIntervalSec", "LogRateLimitBurst", "LogNamespace", "TTYPath",
		"TTYReset", "TTYVHangup", "TTYVTDisallocate", "UtmpIdentifier", "UtmpMode", "IgnoreSIGPIPE"),
	tableOf("vmtest's own policy applies: stop with KillSignal= to every process of the service, SIGKILL after the grace period; restart with backoff",
		"KillMode", "SendSIGKILL", "SendSIGHUP", "FinalKillSignal", "RestartKillSignal", "WatchdogSignal",
		"RestartSec", "RestartSteps", "RestartMaxDelaySec", "RestartPreventExitStatus", "RestartForceExitStatus",
		"SuccessExitStatus", "TimeoutStartSec", "TimeoutAbortSec", "TimeoutStartFailureMode",
		"TimeoutStopFailureMode", "WatchdogSec", "RuntimeMaxSec", "RuntimeRandomizedExtraSec",
		"GuessMainPID", "FileDescriptorStoreMax", "FileDescriptorStorePreserve", "ExitType", "BusName"),
	tableOf("there is no reload", "ExecReload"),
)

// unsupported are directives that would change what runs or how, which
// vmtest does not do; a unit with one is an error saying why.
var unsupported = map[string]string{
	"Sockets":                 "socket activation (start the service itself, listening on its own)",
	"ExecCondition":           "conditions run as commands",
	"SupplementaryGroups":     "supplementary groups for a service (add its user to the groups in the machine's users)",
	"RootDirectory":           "a root directory of its own",
	"RootImage":               "a root image of its own",
	"LoadCredential":          "credentials",
	"SetCredential":           "credentials",
	"LoadCredentialEncrypted": "credentials",
	"SetCredentialEncrypted":  "credentials",
	"ImportCredential":        "credentials",
	"StandardInputText":       "standard input text",
	"StandardInputData":       "standard input data",
	"Also":                    "[Install] directives in [Service]",
}

func tableOf(why string, names ...string) map[string]string {
	t := map[string]string{}
	for _, n := range names {
		t[n] = why
	}
	return t
}

func merge(tables ...map[string]string) map[string]string {
	t := map[string]string{}
	for _, x := range tables {
		for k, v := range x {
			t[k] = v
		}
	}
	return t
}

// Ignored returns the directives vmtest accepts and ignores, as
// "[Section] Name: why" lines sorted, for documentation.
func Ignored() []string {
	var out []string
	for k, why := range unitIgnored {
		out = append(out, "[Unit] "+k+": "+why)
	}
	for k, why := range serviceIgnored {
		out = append(out, "[Service] "+k+": "+why)
	}
	slices.Sort(out)
	return out
}

// Supported returns the directives vmtest acts on, by section.
func Supported() map[string][]string {
	keys := func(m map[string]directive) []string {
		var n []string
		for k := range m {
			n = append(n, k)
		}
		slices.Sort(n)
		return n
	}
	return map[string][]string{"Unit": keys(unitDirectives), "Service": keys(serviceDirectives)}
}
