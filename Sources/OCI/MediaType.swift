/// Media types that Ferry recognises, including every cocoonstack type that epoch and cocoon use.
public enum MediaType {
    // OCI image spec.
    public static let imageManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let imageIndex = "application/vnd.oci.image.index.v1+json"
    public static let imageConfig = "application/vnd.oci.image.config.v1+json"
    public static let imageLayer = "application/vnd.oci.image.layer.v1.tar"
    public static let imageLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    public static let imageLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
    public static let emptyJSON = "application/vnd.oci.empty.v1+json"

    // Docker schema 2.
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerContainerConfig = "application/vnd.docker.container.image.v1+json"
    public static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"

    // cocoonstack snapshot artifact.
    public static let cocoonSnapshot = "application/vnd.cocoonstack.snapshot.v1+json"
    public static let cocoonSnapshotConfig = "application/vnd.cocoonstack.snapshot.config.v1+json"
    public static let cocoonVMConfig = "application/vnd.cocoonstack.vm.config+json"
    public static let cocoonVMState = "application/vnd.cocoonstack.vm.state+json"
    public static let cocoonVMMemory = "application/vnd.cocoonstack.vm.memory"
    public static let cocoonVMCidata = "application/vnd.cocoonstack.vm.cidata"

    // cocoonstack cloud images and disks.
    public static let cocoonOSImage = "application/vnd.cocoonstack.os-image.v1+json"
    public static let cocoonWindowsImage = "application/vnd.cocoonstack.windows-image.v1+json"
    public static let cocoonDiskQcow2 = "application/vnd.cocoonstack.disk.qcow2"
    public static let cocoonDiskQcow2Part = "application/vnd.cocoonstack.disk.qcow2.part"
    public static let cocoonDiskRaw = "application/vnd.cocoonstack.disk.raw"
    public static let cocoonDiskRawPart = "application/vnd.cocoonstack.disk.raw.part"
    public static let cocoonWindowsDiskQcow2 = "application/vnd.cocoonstack.windows.disk.qcow2"
    public static let cocoonWindowsDiskQcow2Part = "application/vnd.cocoonstack.windows.disk.qcow2.part"
    public static let cocoonWindowsDiskRaw = "application/vnd.cocoonstack.windows.disk.raw"
    public static let cocoonWindowsDiskRawPart = "application/vnd.cocoonstack.windows.disk.raw.part"

    // Legacy epoch (v0.1.x) manifests and their layers.
    public static let epochLegacyManifest = "application/vnd.epoch.manifest.v1+json"
    public static let legacyCocoonDiskQcow2 = "application/vnd.cocoon.disk.qcow2"
    public static let legacyCocoonDiskRaw = "application/vnd.cocoon.disk.raw"
    public static let legacyCocoonMemory = "application/vnd.cocoon.memory"
    public static let legacyCocoonCidata = "application/vnd.cocoon.cidata"
    public static let legacyCocoonConfig = "application/vnd.cocoon.config+json"
    public static let legacyCocoonState = "application/vnd.cocoon.state+json"

    public static let octetStream = "application/octet-stream"

    /// Every cloud-image disk layer type, whole or part, current or legacy.
    public static let cloudImageDisks: Set<String> = [
        cocoonDiskQcow2, cocoonDiskQcow2Part, cocoonDiskRaw, cocoonDiskRawPart,
        cocoonWindowsDiskQcow2, cocoonWindowsDiskQcow2Part, cocoonWindowsDiskRaw, cocoonWindowsDiskRawPart,
    ]

    /// Types whose documents are image manifests (they name a config and layers).
    public static let manifests: Set<String> = [imageManifest, dockerManifest]
    /// Types whose documents are indexes (they name other manifests).
    public static let indexes: Set<String> = [imageIndex, dockerManifestList]

    /// Whether documents of this type are manifests or indexes rather than plain blobs.
    public static func isManifestOrIndex(_ type: String) -> Bool {
        manifests.contains(type) || indexes.contains(type)
    }
}

/// Well-known annotation keys.
public enum AnnotationKey {
    public static let refName = "org.opencontainers.image.ref.name"
    public static let title = "org.opencontainers.image.title"
    public static let created = "org.opencontainers.image.created"
    public static let containerdImageName = "io.containerd.image.name"
    public static let cocoonBaseImage = "cocoonstack.snapshot.baseimage"
}
