# sg
resource "aws_security_group" "web" {
  description = "web tier" # kept
  ingress { cidr_blocks = ["10.0.0.0/8"] }
  egress {
    # everything out, said in odd spacing
    protocol="-1"
      from_port = 0
    to_port   =   0
    cidr_blocks = [ "0.0.0.0/0" ]
  }
}
