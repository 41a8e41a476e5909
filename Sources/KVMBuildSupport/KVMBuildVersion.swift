import CShims

/// What `kvmbuild --version` prints and every manifest records; part of the recipe, so a build
/// made by another kvmbuild version never counts as up to date.
public enum KVMBuildVersion {
    /// Bumped with each release (and the Debian package's version).
    public static let number = "0.10.0"
    /// The commit the binary was built from ("dev" for a development build).
    public static var gitSha: String { String(cString: kvmbuild_git_sha()) }
    public static var string: String { "\(number) (\(gitSha))" }
}
