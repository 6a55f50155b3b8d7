"""Authentication: users with password hashes, signed bearer tokens, call checks."""
