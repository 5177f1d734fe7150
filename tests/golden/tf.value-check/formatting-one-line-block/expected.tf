resource "aws_instance" "web" {
  ami           = "ami-123"
  ebs_optimized = true
}
# trailing comment stays
