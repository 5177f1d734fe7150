resource "aws_security_group" "ping" {
  name = "ping"
  description = "icmp echo"

  ingress {
    protocol  = "icmp"
    from_port = 8
    to_port   = -1
    self      = true

    description = "icmp type 8 from itself"
  }
}