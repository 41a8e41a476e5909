import Foundation

/// What an installed kvmbuild ships beside its binary: `<prefix>/share/kvmbuild` (the Debian
/// package's /usr/share/kvmbuild) holds the example project, kvmbuild.yml with its ansible/ and
/// cloud-init/. A development build run from .build/ has none.
public enum InstalledFiles {
    public static let shareDirectory: String? = {
        guard let binary = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
        let prefix = URL(fileURLWithPath: binary).deletingLastPathComponent().deletingLastPathComponent()
        let share = prefix.appendingPathComponent("share/kvmbuild").path
        return FileManager.default.fileExists(atPath: share + "/kvmbuild.yml") ? share : nil
    }()

    /// The targets file to read: the one named, relative to `base`; when the user named none
    /// (`defaultName`) and there is none here, the shipped example. A project's own file wins.
    public static func targetsFile(_ named: String, defaultName: String, base: URL) -> String {
        let path = PathExpansion.resolve(named, base: base)
        guard named == defaultName, !FileManager.default.fileExists(atPath: path), let share = shareDirectory else { return path }
        return share + "/" + defaultName
    }
}
