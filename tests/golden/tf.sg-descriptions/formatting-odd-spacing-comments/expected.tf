# sg
resource "aws_security_group" "web" {
  description = "web tier" # kept
  ingress {
    protocol    = "tcp"   # https only
    from_port   = 443
    to_port     = 443
    security_groups = [aws_security_group.lb.id]
    description     = "tcp 443 from security group lb"
  }
  egress {
    # everything out, said in odd spacing
    protocol="-1"
      from_port = 0
    to_port   =   0
    cidr_blocks = [ "0.0.0.0/0" ]
    description = "all traffic to 0.0.0.0/0"
  }
}
