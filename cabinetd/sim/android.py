"""A stock Android handheld as its shell answers over adb: the commands the cabinet's `adb` link runs,
with the output formats real devices print (docs/device-adb.md lists them and where they come from).

The state is what those commands read and change: system properties, the battery, installed packages
(version code, enabled, whether they hold data), files pushed to /data/local/tmp, free storage, the
time since boot, the DropBox's crash and ANR entries and the usage events. Faults a device shows in
the field are set here too (`install_failure`: the reason Android gives every install).

APKs are real ones, read as Android reads them: the package and version from the binary manifest,
the signer from the v2/v3 signing block, and only when that signature verifies (cabinetproto.apk);
or, where a test needs no real APK, the simulator's own: a zip holding `sim-manifest.json` (package,
version code and the SHA-256 of the signing certificate). As Android does, an update signed by
another certificate than the installed package's is refused (docs/device-adb.md, "Facts").
"""

from __future__ import annotations

import hashlib
import io
import json
import shlex
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from cabinetproto.apk import ApkError, read_apk

MANIFEST: Final = "sim-manifest.json"
TMP_DIR: Final = "/data/local/tmp"
STATUS_CHARGING: Final = 2
STATUS_DISCHARGING: Final = 3
HEALTH_GOOD: Final = 2
DATA_BLOCKS_K: Final = 11_087_040  # a 16 GB handheld's /data, in 1K blocks
# The certificate the simulated store's apps are signed with unless a test says another.
STORE_SIGNER: Final = hashlib.sha256(b"simulated store release certificate").hexdigest()
Shell = tuple[bytes, bytes, int]  # stdout, stderr, exit code


def sim_apk(package: str, version_code: int, *, signer_sha256: str = STORE_SIGNER) -> bytes:
    """An APK as the simulated handheld reads one, signed by the certificate with this SHA-256."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as apk:
        manifest = {"package": package, "version_code": version_code, "signer_sha256": signer_sha256}
        apk.writestr(MANIFEST, json.dumps(manifest))
    return buffer.getvalue()


@dataclass(frozen=True)
class ApkManifest:
    package: str
    version_code: int
    signer_sha256: str


def _read_apk(data: bytes, path: str) -> ApkManifest | None:
    """What the package manager reads from the file at `path`; None for one it cannot parse."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as apk:
            if MANIFEST not in apk.namelist():
                facts = read_apk(data, path)
                return ApkManifest(facts.package, facts.version_code, facts.signer_sha256)
            manifest = json.loads(apk.read(MANIFEST))
        return ApkManifest(str(manifest["package"]), int(manifest["version_code"]), str(manifest["signer_sha256"]))
    except (zipfile.BadZipFile, ApkError, KeyError, ValueError, TypeError):
        return None


@dataclass
class Package:
    version_code: int
    enabled: bool = True
    has_data: bool = False
    signer_sha256: str = STORE_SIGNER  # the SHA-256 of the certificate the installed package is signed with


@dataclass
class Battery:
    level: int = 80
    status: int = STATUS_CHARGING
    health: int = HEALTH_GOOD
    temperature: int = 285  # tenths of a degree Celsius, as `dumpsys battery` prints it
    charge_counter: int | None = 2_856_000  # µAh; devices without a fuel gauge print none


@dataclass
class SimAndroid:
    serial: str
    model: str = "PDA A1"
    release: str = "13"
    sdk: int = 33
    clock: Callable[[], float] = time.time
    battery: Battery = field(default_factory=Battery)
    packages: dict[str, Package] = field(default_factory=dict)
    protected: set[str] = field(default_factory=lambda: {"com.android.settings"})
    files: dict[str, bytes] = field(default_factory=dict)
    free_k: int = 5_778_792
    booted_at: float = 0.0
    dropbox: list[tuple[float, str, str]] = field(default_factory=list)  # (when, tag, first line)
    usage: list[tuple[float, str, str]] = field(default_factory=list)  # (when, event type, package)
    launched: list[str] = field(default_factory=list)
    install_failure: str | None = None  # e.g. "INSTALL_FAILED_INSUFFICIENT_STORAGE"
    utc_offset_s: int = 0
    # The level and charging of a battery modelled elsewhere (the simulated cabinet's, which charges
    # it in its slot); None: `battery` alone.
    power: Callable[[], tuple[int, bool]] | None = None

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.booted_at = self.booted_at or self.clock() - 3600
        for package in self.protected:
            self.packages.setdefault(package, Package(33))

    @property
    def fingerprint(self) -> str:
        name = self.model.lower().replace(" ", "_")
        return f"Simulated/{name}/{name}:{self.release}/TQ3A.230901.001/{self.sdk}0101:user/release-keys"

    def props(self) -> dict[str, str]:
        return {
            "ro.serialno": self.serial,
            "ro.product.model": self.model,
            "ro.product.manufacturer": "Simulated",
            "ro.build.version.release": self.release,
            "ro.build.version.sdk": str(self.sdk),
            "ro.build.fingerprint": self.fingerprint,
        }

    # --- what happens to it outside the shell ------------------------------------------------------

    def set_charging(self, charging: bool) -> None:
        self.battery.status = STATUS_CHARGING if charging else STATUS_DISCHARGING

    def worked(self, since: float, until: float, packages: list[str], drain: int) -> None:
        """A shift's use: the screen on, each app in the foreground in turn, some battery spent."""
        with self.lock:
            self.usage.append((since, "SCREEN_INTERACTIVE", "android"))
            step = (until - since) / max(1, len(packages))
            for n, package in enumerate(packages):
                self.usage.append((since + n * step + 1, "ACTIVITY_RESUMED", package))
                self.usage.append((since + (n + 1) * step - 1, "ACTIVITY_PAUSED", package))
                if package in self.packages:
                    self.packages[package].has_data = True
            self.usage.append((until, "SCREEN_NON_INTERACTIVE", "android"))
            self.battery.level = max(0, self.battery.level - drain)

    def crashed(self, when: float, tag: str, package: str) -> None:
        with self.lock:
            self.dropbox.append((when, tag, f"Process: {package}"))

    # --- the shell ---------------------------------------------------------------------------------

    def shell(self, command: str) -> Shell:
        """Run one shell command line as `sh -c` on the device would; unknown commands fail as sh does."""
        lexer = shlex.shlex(command, posix=True, punctuation_chars=";")
        lexer.whitespace_split = True
        try:
            tokens = list(lexer)
        except ValueError as error:
            return b"", f"/system/bin/sh: syntax error: {error}\n".encode(), 2
        out, err, code = b"", b"", 0
        commands: list[list[str]] = [[]]
        for token in tokens:
            if token == ";":
                commands.append([])
            else:
                commands[-1].append(token)
        with self.lock:
            for argv in (argv for argv in commands if argv):
                more_out, more_err, code = self._run(argv)
                out, err = out + more_out, err + more_err
        return out, err, code

    def _run(self, argv: list[str]) -> Shell:
        name, args = argv[0], argv[1:]
        if name == "getprop":
            props = self.props()
            if args:
                return f"{props.get(args[0], '')}\n".encode(), b"", 0
            return "".join(f"[{k}]: [{v}]\n" for k, v in sorted(props.items())).encode(), b"", 0
        if name == "dumpsys" and args:
            return self._dumpsys(args[0], args[1:])
        if name == "pm" and args:
            return self._pm(args[0], args[1:])
        if name == "am" and args:
            return self._am(args[0], args[1:])
        if name == "df":
            used = DATA_BLOCKS_K - self.free_k
            line = f"/dev/block/dm-5 {DATA_BLOCKS_K} {used} {self.free_k} {used * 100 // DATA_BLOCKS_K}% /data\n"
            return ("Filesystem     1K-blocks    Used Available Use% Mounted on\n" + line).encode(), b"", 0
        if name == "cat" and args == ["/proc/uptime"]:
            up = self.clock() - self.booted_at
            return f"{up:.2f} {up * 3.7:.2f}\n".encode(), b"", 0
        if name == "date" and args == ["+%z"]:
            sign = "+" if self.utc_offset_s >= 0 else "-"
            minutes = abs(self.utc_offset_s) // 60
            return f"{sign}{minutes // 60:02d}{minutes % 60:02d}\n".encode(), b"", 0
        if name == "rm":
            for path in (a for a in args if not a.startswith("-")):
                self.files.pop(path, None)
            return b"", b"", 0
        return b"", f"/system/bin/sh: {name}: inaccessible or not found\n".encode(), 127

    def _when(self, moment: float) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(moment + self.utc_offset_s))

    def _dumpsys(self, service: str, args: list[str]) -> Shell:
        if service == "battery":
            b = self.battery
            if self.power is not None:
                level, charging = self.power()
                b.level, b.status = level, STATUS_CHARGING if charging else STATUS_DISCHARGING
            lines = [
                "Current Battery Service state:",
                f"  AC powered: {'false'}",
                f"  USB powered: {'true' if b.status == STATUS_CHARGING else 'false'}",
                "  Wireless powered: false",
                "  Max charging current: 500000",
                "  Max charging voltage: 5000000",
                *([f"  Charge counter: {b.charge_counter}"] if b.charge_counter is not None else []),
                f"  status: {b.status}",
                f"  health: {b.health}",
                "  present: true",
                f"  level: {b.level}",
                "  scale: 100",
                "  voltage: 4177",
                f"  temperature: {b.temperature}",
                "  technology: Li-ion",
            ]
            return ("\n".join(lines) + "\n").encode(), b"", 0
        if service == "dropbox":
            entries = sorted(self.dropbox)
            out = [f"Drop box contents: {len(entries)} entries", "Max entries: 1000", ""]
            for when, tag, first in entries:
                out += [f"{self._when(when)} {tag} (text, {len(first) + 200} bytes)", f"    {first[:70]}"]
            return ("\n".join(out) + "\n").encode(), b"", 0
        if service == "usagestats":
            out = ["user=0", "  In-memory events stats", "  events"]
            for when, kind, package in sorted(self.usage):
                detail = f" class={package}.MainActivity" if kind.startswith("ACTIVITY") else ""
                out.append(f'    time="{self._when(when)}" type={kind} package={package}{detail} flags=0x0')
            return ("\n".join(out) + "\n").encode(), b"", 0
        return f"Can't find service: {service}\n".encode(), b"", 0

    def _pm(self, verb: str, args: list[str]) -> Shell:
        names = [a for a in args if not a.startswith("-") and a != "0"]
        if verb == "list" and names[:1] == ["packages"]:
            shown = sorted(self.packages.items())
            if "-e" in args or "-d" in args:
                shown = [(n, p) for n, p in shown if p.enabled == ("-e" in args)]
            versions = "--show-versioncode" in args
            lines = [f"package:{n}" + (f" versionCode:{p.version_code}" if versions else "") for n, p in shown]
            return "".join(line + "\n" for line in lines).encode(), b"", 0
        if verb == "install" and names:
            return self._install(names[-1], replace="-r" in args, downgrade="-d" in args)
        if verb in ("enable", "disable-user", "clear") and names:
            package = names[-1]
            found = self.packages.get(package)
            if found is None:
                error = f"Exception occurred while executing '{verb}':\njava.lang.IllegalArgumentException: "
                return b"", f"{error}Unknown package: {package}\n".encode(), 255
            if verb == "clear":
                found.has_data = False
                return b"Success\n", b"", 0
            if verb == "disable-user" and package in self.protected:
                error = f"Exception occurred while executing '{verb}':\njava.lang.SecurityException: "
                return b"", f"{error}Cannot disable a protected package: {package}\n".encode(), 255
            found.enabled = verb == "enable"
            state = "enabled" if found.enabled else "disabled-user"
            return f"Package {package} new state: {state}\n".encode(), b"", 0
        return b"", f"Unknown command: {verb}\n".encode(), 255

    def _install(self, path: str, *, replace: bool, downgrade: bool) -> Shell:
        data = self.files.get(path)
        if data is None:
            return b"", f"Error: Unable to open file: {path}\nConsider using a file under {TMP_DIR}/\n".encode(), 1
        parsed = _read_apk(data, path)
        if parsed is None:
            return f"Failure [INSTALL_PARSE_FAILED_NOT_APK: Failed to parse {path}]\n".encode(), b"", 1
        package, version = parsed.package, parsed.version_code
        if self.install_failure is not None:
            return f"Failure [{self.install_failure}]\n".encode(), b"", 1
        held = self.packages.get(package)
        if held is not None and not replace:
            why = f"Attempt to re-install {package} without first uninstalling."
            return f"Failure [INSTALL_FAILED_ALREADY_EXISTS: {why}]\n".encode(), b"", 1
        if held is not None and version < held.version_code and not downgrade:
            why = f"Downgrade detected: Update version code {version} is older than current {held.version_code}"
            return f"Failure [INSTALL_FAILED_VERSION_DOWNGRADE: {why}]\n".encode(), b"", 1
        if held is not None and held.signer_sha256 != parsed.signer_sha256:
            # PackageManagerServiceUtils.verifySignatures' words (docs/device-adb.md, "Facts").
            why = f"Existing package {package} signatures do not match newer version; ignoring!"
            return f"Failure [INSTALL_FAILED_UPDATE_INCOMPATIBLE: {why}]\n".encode(), b"", 1
        kept = held or Package(version)  # an update keeps the app's state and data, as Android's does
        self.packages[package] = Package(version, kept.enabled, kept.has_data, parsed.signer_sha256)
        return b"Success\n", b"", 0

    def _am(self, verb: str, args: list[str]) -> Shell:
        if verb == "force-stop":
            return b"", b"", 0
        if verb == "start" and args:
            package = args[-1]
            if package not in self.packages or not self.packages[package].enabled:
                return b"Error: Activity not started, unable to resolve Intent\n", b"", 1
            self.launched.append(package)
            intent = f"act=android.intent.action.MAIN cat=[android.intent.category.LAUNCHER] pkg={package}"
            return f"Starting: Intent {{ {intent} }}\n".encode(), b"", 0
        return b"", f"Error: unknown command '{verb}'\n".encode(), 255
