import AsyncHTTPClient
import Foundation
import KVMBuildSupport
import NIOCore
import NIOSSL

/// How kvmbuild talks TLS to a cloud, read as the openstack CLI reads it: `cacert`, `insecure`,
/// `cert`/`key` in clouds.yaml, or OS_CACERT, OS_INSECURE, OS_CERT, OS_KEY. Most on-premises
/// clouds sit behind a private CA, so `cacert` is what makes them usable at all.
public struct TLSSettings: Sendable, Equatable {
    /// PEM bundle of the CAs to trust instead of the system's.
    public var caFile: String?
    /// Skip certificate verification (said loudly on every use).
    public var insecure = false
    /// Client certificate and key (PEM) for clouds that ask for one.
    public var certFile: String?
    public var keyFile: String?

    public init(caFile: String? = nil, insecure: Bool = false, certFile: String? = nil, keyFile: String? = nil) {
        self.caFile = caFile
        self.insecure = insecure
        self.certFile = certFile
        self.keyFile = keyFile
    }

    static func truthy(_ value: Any?) -> Bool {
        switch value {
        case let bool as Bool: bool
        case let text as String: ["1", "true", "yes", "on"].contains(text.lowercased())
        default: false
        }
    }

    func configuration() throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile {
            guard FileManager.default.isReadableFile(atPath: caFile) else {
                throw KVMBuildError(.notFound, "cacert \(caFile) not readable", fix: "fix cacert in clouds.yaml or OS_CACERT")
            }
            tls.trustRoots = .file(caFile)
        }
        if insecure {
            Console.shared.warning("TLS certificate verification is OFF for this cloud (insecure / OS_INSECURE): anyone on the path can read the token and the image")
            tls.certificateVerification = .none
        }
        if let certFile {
            guard let keyFile else { throw KVMBuildError(.invalidInput, "cert \(certFile) given without key", fix: "set key (or OS_KEY) to the client certificate's private key") }
            do {
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certFile).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
            } catch {
                throw KVMBuildError(.invalidInput, "cannot load client certificate \(certFile)", fix: "give a PEM certificate and its PEM key", cause: error)
            }
        }
        return tls
    }

    /// A client of our own: these TLS settings, and no automatic redirects (HTTP.execute
    /// follows only those that keep the token on the same host and scheme).
    func makeClient() throws -> HTTPClient {
        var configuration = HTTPClient.Configuration(tlsConfiguration: try configuration(), redirectConfiguration: .disallow)
        configuration.timeout.connect = .seconds(30)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }
}
