import Foundation

/// A guest's two NICs when it joins a guest-only segment: the user-mode NIC keeps DHCP (its SSH
/// forward on 127.0.0.1 and its way to the package mirror), the cluster NIC gets a static IPv4
/// address that exists only inside the guests. NICs are matched by MAC, so the names the guest's
/// kernel picks do not matter.
public struct GuestNetwork: Sendable, Equatable {
    public var userMAC: String
    public var clusterMAC: String
    /// e.g. 10.42.0.11
    public var address: String
    public var prefixLength: Int

    public init(userMAC: String, clusterMAC: String, address: String, prefixLength: Int) {
        self.userMAC = userMAC
        self.clusterMAC = clusterMAC
        self.address = address
        self.prefixLength = prefixLength
    }

    public var netmask: String {
        let bits = prefixLength == 0 ? UInt32(0) : UInt32.max << (32 - UInt32(prefixLength))
        return [24, 16, 8, 0].map { String((bits >> UInt32($0)) & 0xff) }.joined(separator: ".")
    }

    /// OpenStack's `network_data.json`, as Nova writes it to a config drive.
    public func networkDataJSON() throws -> Data {
        let object: [String: Any] = [
            "links": [
                ["id": "user0", "type": "phy", "ethernet_mac_address": userMAC],
                ["id": "cluster0", "type": "phy", "ethernet_mac_address": clusterMAC],
            ],
            "networks": [
                ["id": "user", "type": "ipv4_dhcp", "link": "user0", "network_id": "user"],
                ["id": "cluster", "type": "ipv4", "link": "cluster0", "network_id": "cluster",
                 "ip_address": address, "netmask": netmask, "routes": [] as [Any]],
            ],
            "services": [] as [Any],
        ]
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }

    /// NoCloud's `network-config` (version 2).
    public func networkConfigV2() -> String {
        """
        version: 2
        ethernets:
          user0:
            match: { macaddress: "\(userMAC)" }
            dhcp4: true
          cluster0:
            match: { macaddress: "\(clusterMAC)" }
            addresses: ["\(address)/\(prefixLength)"]

        """
    }
}
