"""RSA keys for test GitHub Apps: the App signs its JWT with the private key, the double checks
it with the public half."""
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def new_app_key_pem() -> str:
    """A fresh 2048-bit private key in PKCS#8 PEM, as GitHub hands an App's key out."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()
