//! Wallet keys: secp256k1 key pairs with Ethereum-style addresses, and EIP-191
//! `personal_sign` signatures.
//!
//! Guarantees: keys come from the operating system's RNG; the secret is zeroized when a
//! [`WalletKey`] is dropped (k256's `SigningKey` is `ZeroizeOnDrop`) and secret bytes are
//! only ever handed out as [`Zeroizing`]; nothing here implements `Debug` or `Display` in a
//! way that prints secret material; addresses are EIP-55 checksummed; signatures are 65
//! bytes `r ‖ s ‖ v` with low `s` and `v` = 27 or 28, as Ethereum libraries expect.

use k256::ecdsa::SigningKey;
use k256::elliptic_curve::Generate;
use sha3::{Digest, Keccak256};
use zeroize::Zeroizing;

/// A wallet's private key, held in memory only while it is used.
pub struct WalletKey(SigningKey);

impl std::fmt::Debug for WalletKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WalletKey({})", self.address())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the bytes are not a valid secp256k1 private key")]
pub struct InvalidKey;

impl WalletKey {
    /// A new key from the OS RNG.
    pub fn generate() -> Self {
        Self(SigningKey::generate())
    }

    /// A key from its 32-byte big-endian scalar (exactly 32 bytes: the stored format).
    pub fn from_bytes(secret: &[u8]) -> Result<Self, InvalidKey> {
        if secret.len() != 32 {
            return Err(InvalidKey);
        }
        SigningKey::from_slice(secret).map(Self).map_err(|_| InvalidKey)
    }

    /// The 32 secret bytes, zeroized when dropped.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&self.0.to_bytes());
        out
    }

    /// The EIP-55 checksummed address: the last 20 bytes of Keccak-256 of the
    /// uncompressed public key (without its 0x04 prefix).
    pub fn address(&self) -> String {
        let point = self.0.verifying_key().to_sec1_point(false);
        let hash = Keccak256::digest(&point.as_bytes()[1..]);
        let mut address = [0u8; 20];
        address.copy_from_slice(&hash[12..]);
        eip55(&address)
    }

    /// EIP-191 `personal_sign`: the signature of
    /// Keccak-256("\x19Ethereum Signed Message:\n" ‖ len(message) ‖ message).
    pub fn sign_personal(&self, message: &[u8]) -> [u8; 65] {
        let (signature, recovery) = self.0.sign_prehash_recoverable(&personal_message_hash(message));
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&signature.to_bytes());
        out[64] = 27 + recovery.to_byte();
        out
    }
}

/// The EIP-191 hash that `personal_sign` signs.
pub fn personal_message_hash(message: &[u8]) -> [u8; 32] {
    let mut hasher = Keccak256::new();
    hasher.update(format!("\x19Ethereum Signed Message:\n{}", message.len()).as_bytes());
    hasher.update(message);
    hasher.finalize().into()
}

/// EIP-55 mixed-case checksum encoding of a 20-byte address.
pub fn eip55(address: &[u8; 20]) -> String {
    let lower = hex::encode(address);
    let hash = Keccak256::digest(lower.as_bytes());
    let mut out = String::with_capacity(42);
    out.push_str("0x");
    for (i, c) in lower.chars().enumerate() {
        let nibble = (hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0x0f;
        out.push(if c.is_ascii_alphabetic() && nibble >= 8 { c.to_ascii_uppercase() } else { c });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eip55_matches_the_eips_own_examples() {
        for expected in [
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
            "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        ] {
            let bytes: [u8; 20] = hex::decode(&expected[2..]).unwrap().try_into().unwrap();
            assert_eq!(eip55(&bytes), expected);
        }
    }

    #[test]
    fn a_known_key_has_its_known_address() {
        // The web3.js documentation's example account.
        let key = WalletKey::from_bytes(
            &hex::decode("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318").unwrap(),
        )
        .unwrap();
        assert_eq!(key.address(), "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23");
    }

    #[test]
    fn personal_sign_matches_the_known_signature() {
        // web3.eth.accounts.sign('Some data', <the key above>)
        let key = WalletKey::from_bytes(
            &hex::decode("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318").unwrap(),
        )
        .unwrap();
        assert_eq!(
            hex::encode(personal_message_hash(b"Some data")),
            "1da44b586eb0729ff70a73c326926f6ed5a25f5b056e7f47fbc6e58d86871655"
        );
        assert_eq!(
            hex::encode(key.sign_personal(b"Some data")),
            "b91467e570a6466aa9e9876cbcd013baba02900b8979d43fe208a4a4f339f5fd6007e74cd82e037b800186422fc2da167c747ef045e5d18a5f5d4300f8e1a0291c"
        );
    }

    #[test]
    fn a_generated_key_round_trips_through_its_bytes() {
        let key = WalletKey::generate();
        let again = WalletKey::from_bytes(&*key.secret_bytes()).unwrap();
        assert_eq!(key.address(), again.address());
        assert_ne!(WalletKey::generate().address(), key.address());
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let key = WalletKey::generate();
        let secret = hex::encode(*key.secret_bytes());
        let shown = format!("{key:?}");
        assert!(!shown.contains(&secret) && shown.starts_with("WalletKey(0x"));
    }

    #[test]
    fn invalid_secrets_are_refused() {
        assert_eq!(WalletKey::from_bytes(&[0u8; 32]).unwrap_err(), InvalidKey);
        assert_eq!(WalletKey::from_bytes(&[1u8; 31]).unwrap_err(), InvalidKey);
    }
}
