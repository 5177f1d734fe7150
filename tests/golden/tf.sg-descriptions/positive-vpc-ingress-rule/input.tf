resource "aws_vpc_security_group_ingress_rule" "ssh" {
  security_group_id = "sg-123"
  cidr_ipv4         = "10.1.0.0/16"
  from_port         = 22
  ip_protocol       = "tcp"
  to_port           = 22
}
