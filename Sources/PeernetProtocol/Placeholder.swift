enum PeernetProtocolPlaceholder {}
