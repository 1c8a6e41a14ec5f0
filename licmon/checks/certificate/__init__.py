"""Certificate expiry: the proxy's, the QRS port's and the client certificate."""
