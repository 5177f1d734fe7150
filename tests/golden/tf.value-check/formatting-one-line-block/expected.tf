resource "aws_instance" "web" {
  ami        = "ami-123"
  monitoring = true
}
# trailing comment stays
