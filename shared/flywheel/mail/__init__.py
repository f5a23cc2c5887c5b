"""Email: the consent gate, the Italian templates, and the rendering shared by every mailer."""
