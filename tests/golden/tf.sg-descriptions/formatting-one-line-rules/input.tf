# sg
resource "aws_security_group" "web" {
  description = "web tier" # kept
  ingress { from_port = 443 }
  egress {
    # nothing but a comment
  }
}
