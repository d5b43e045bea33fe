//! Key custody: wallet private keys encrypted under AWS KMS (format 1, documented byte by
//! byte in `docs/key-custody.md`).
//!
//! Guarantees:
//! - a private key is encrypted by KMS before it is stored anywhere, with an encryption
//!   context binding it to its wallet and user (`purpose=wallet-key`, `wallet_id`,
//!   `user_id`): a ciphertext copied onto another wallet's row does not decrypt;
//! - decrypted key bytes are returned only as [`Zeroizing`] buffers;
//! - a KMS failure is an error the caller turns into 503, never a half-made wallet;
//! - errors and logs carry the KMS error code, never key material or ciphertext.

use std::collections::HashMap;

use aws_sdk_kms::primitives::Blob;
use uuid::Uuid;
use zeroize::Zeroizing;

/// The stored key format this module writes and reads.
pub const KEY_FORMAT: i16 = 1;

/// KMS-backed encryption of wallet keys.
#[derive(Clone)]
pub struct KeyCustody {
    kms: aws_sdk_kms::Client,
    /// The key new wallets are encrypted under (id, ARN or alias).
    key_id: String,
}

/// A key as stored.
#[derive(Clone)]
pub struct WrappedKey {
    pub ciphertext: Vec<u8>,
    /// The ARN of the KMS key that encrypted it, as KMS reports it.
    pub kms_key_id: String,
}

#[derive(Debug, thiserror::Error)]
#[error("KMS {operation} failed: {reason}")]
pub struct CustodyError {
    pub operation: &'static str,
    pub reason: String,
    /// KMS did not answer (network, timeout) — as opposed to answering with a refusal.
    pub unreachable: bool,
}

impl CustodyError {
    fn from_sdk<E, R>(operation: &'static str, err: &aws_sdk_kms::error::SdkError<E, R>) -> Self
    where
        E: std::error::Error + aws_sdk_kms::error::ProvideErrorMetadata + 'static,
        R: std::fmt::Debug,
    {
        Self { operation, reason: crate::platform::aws::describe(err), unreachable: err.as_service_error().is_none() }
    }

    fn missing(operation: &'static str, what: &str) -> Self {
        Self { operation, reason: format!("no {what} in the response"), unreachable: false }
    }
}

/// The encryption context of a wallet's key.
pub fn context(wallet_id: Uuid, user_id: Uuid) -> HashMap<String, String> {
    HashMap::from([
        ("purpose".to_owned(), "wallet-key".to_owned()),
        ("wallet_id".to_owned(), wallet_id.to_string()),
        ("user_id".to_owned(), user_id.to_string()),
    ])
}

impl KeyCustody {
    pub fn new(kms: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        Self { kms, key_id: key_id.into() }
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Encrypts `secret` under the current key. (The SDK copies the plaintext into its
    /// request; that copy is freed, not zeroized, when the call returns.)
    pub async fn wrap(&self, secret: &[u8], wallet_id: Uuid, user_id: Uuid) -> Result<WrappedKey, CustodyError> {
        let out = self
            .kms
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(secret))
            .set_encryption_context(Some(context(wallet_id, user_id)))
            .send()
            .await
            .map_err(|e| CustodyError::from_sdk("Encrypt", &e))?;
        let ciphertext =
            out.ciphertext_blob.map(Blob::into_inner).ok_or_else(|| CustodyError::missing("Encrypt", "ciphertext"))?;
        Ok(WrappedKey { ciphertext, kms_key_id: out.key_id.unwrap_or_else(|| self.key_id.clone()) })
    }

    /// Decrypts a stored key for one use.
    pub async fn unwrap(
        &self,
        ciphertext: &[u8],
        wallet_id: Uuid,
        user_id: Uuid,
    ) -> Result<Zeroizing<Vec<u8>>, CustodyError> {
        let out = self
            .kms
            .decrypt()
            .ciphertext_blob(Blob::new(ciphertext))
            .set_encryption_context(Some(context(wallet_id, user_id)))
            .send()
            .await
            .map_err(|e| CustodyError::from_sdk("Decrypt", &e))?;
        out.plaintext
            .map(|b| Zeroizing::new(b.into_inner()))
            .ok_or_else(|| CustodyError::missing("Decrypt", "plaintext"))
    }

    /// Re-encrypts a stored key under the current key without the plaintext leaving KMS.
    pub async fn rewrap(&self, ciphertext: &[u8], wallet_id: Uuid, user_id: Uuid) -> Result<WrappedKey, CustodyError> {
        let ctx = context(wallet_id, user_id);
        let out = self
            .kms
            .re_encrypt()
            .ciphertext_blob(Blob::new(ciphertext))
            .set_source_encryption_context(Some(ctx.clone()))
            .destination_key_id(&self.key_id)
            .set_destination_encryption_context(Some(ctx))
            .send()
            .await
            .map_err(|e| CustodyError::from_sdk("ReEncrypt", &e))?;
        let ciphertext = out
            .ciphertext_blob
            .map(Blob::into_inner)
            .ok_or_else(|| CustodyError::missing("ReEncrypt", "ciphertext"))?;
        Ok(WrappedKey { ciphertext, kms_key_id: out.key_id.unwrap_or_else(|| self.key_id.clone()) })
    }

    /// The ARN of the current key.
    pub async fn current_key_arn(&self) -> Result<String, CustodyError> {
        let out = self
            .kms
            .describe_key()
            .key_id(&self.key_id)
            .send()
            .await
            .map_err(|e| CustodyError::from_sdk("DescribeKey", &e))?;
        out.key_metadata.and_then(|m| m.arn).ok_or_else(|| CustodyError::missing("DescribeKey", "key ARN"))
    }
}
