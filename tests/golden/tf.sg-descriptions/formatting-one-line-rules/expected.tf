# sg
resource "aws_security_group" "web" {
  description = "web tier" # kept
  ingress {
    from_port   = 443
    description = "Added by iacbot - review: describe what this rule allows"
  }
  egress {
    # nothing but a comment
    description = "Added by iacbot - review: describe what this rule allows"
  }
}
